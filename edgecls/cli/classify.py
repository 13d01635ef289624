from __future__ import annotations

import json

import click

from edgecls.errors import EdgeclsError, ExitCode


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--model", "model", type=click.Path(dir_okay=False), help="A .tflite model (default: the bundled one).")
@click.option("--top-k", default=1, show_default=True, type=click.IntRange(1), help="Labels to show per image.")
@click.option("--threads", type=click.IntRange(1), help="Interpreter threads (default: the runtime's choice).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image per line.")
def classify(paths, model, top_k, threads, as_json):
    """Classify image files, globs or folders. Unreadable files get a one-line error; the rest are still
    classified, and the exit code is non-zero if any failed."""
    from edgecls.runtime import Classifier, default_model_path
    from edgecls.runtime.inputs import expand_inputs

    classifier = Classifier(model or default_model_path(), threads)
    failed = 0
    for path in expand_inputs(list(paths)):
        try:
            result = classifier.classify(path, top_k)
        except EdgeclsError as exc:
            failed += 1
            message = str(exc) if str(exc).startswith(path) else f"{path}: {exc}"
            if as_json:
                click.echo(json.dumps({"path": path, "error": message}))
            click.echo(f"edgecls: error: {message}", err=True)
            continue
        if as_json:
            top = [{"label": c.label, "score": round(c.score, 6)} for c in result.top]
            click.echo(json.dumps({"path": path, "top": top, "ms": round(result.ms, 3)}))
        else:
            click.echo(f"{path}: " + ", ".join(f"{c.label} {c.score:.3f}" for c in result.top))
    return ExitCode.PARTIAL if failed else ExitCode.OK
