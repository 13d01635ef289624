from __future__ import annotations

import click

from edgecls.cli.options import class_map_option, data_option


@click.command()
@click.argument("model", type=click.Path(exists=True))
@data_option
@click.option("--split", default="test", show_default=True, help="Which split to score.")
@click.option("--limit", type=click.IntRange(1), help="Score a stratified sample of N images.")
@click.option("--threads", type=click.IntRange(1), help="Interpreter threads for .tflite models.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the full report here.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False),
              help="Write confusion_matrix.png (and training_curves.png for a run folder) here.")
@class_map_option
def evaluate(model, data, split, limit, threads, json_out, plots_dir, class_map):
    """Score MODEL (.tflite, .keras or a run folder) on a dataset split: accuracy, precision, recall, F1, loss,
    per-class report and confusion matrix. .tflite files need no TensorFlow."""
    from edgecls.evaluate import evaluate as run
    from edgecls.fileio import write_json
    from edgecls.metrics import format_report

    report = run(model, data, split, limit, threads, class_map)
    click.echo(format_report(report))
    if json_out:
        write_json(json_out, report)
    if plots_dir:
        from pathlib import Path

        from edgecls.plots import confusion_matrix_png, training_curves_png

        click.echo(f"wrote {confusion_matrix_png(report, Path(plots_dir) / 'confusion_matrix.png')}")
        history = Path(model) / "history.csv"
        if history.is_file():
            click.echo(f"wrote {training_curves_png(history, Path(plots_dir) / 'training_curves.png')}")
