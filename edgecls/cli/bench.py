"""``edgecls bench`` and ``edgecls report``: measure models on this machine, merge results from several."""

from __future__ import annotations

from pathlib import Path

import click


def parse_threads(ctx, param, value: str) -> tuple[int, ...]:
    try:
        threads = tuple(int(t) for t in value.split(","))
    except ValueError:
        threads = ()
    if not threads or min(threads) < 1:
        raise click.BadParameter(f"expected positive integers separated by commas, like 1,2,4; received {value!r}")
    return threads


@click.command()
@click.argument("models", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--data", metavar="SOURCE", help="Test data for top-1 (as for `edgecls evaluate`); without it, "
              "latency only, on sample inputs.")
@click.option("--threads", default="1", show_default=True, callback=parse_threads, metavar="1,2,4",
              help="Interpreter thread counts to measure.")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(1), help="Timed runs per measurement.")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(0), help="Untimed runs first.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1),
              help="Test images for top-1 (a stratified sample); also the size of a --bundle's slice.")
@click.option("--image", type=click.Path(exists=True, dir_okay=False), metavar="JPEG",
              help="Photo of the end-to-end column (default: the first test image).")
@click.option("--device", help="Name of this device in the results (default: host name and machine).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the results (docs/benchmarks.md).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), help="Write one CSV row per measurement.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), help="Write accuracy against latency (PNG).")
@click.option("--bundle", "bundle_out", type=click.Path(dir_okay=False), metavar="OUT.tar.gz",
              help="Pack MODELS, a test slice of --data and a manifest for another device, and measure nothing.")
@click.option("--from-bundle", "from_bundle", type=click.Path(exists=True, dir_okay=False), metavar="ARCHIVE",
              help="Benchmark the models and data of a bundle (no TensorFlow needed).")
def bench(models, data, threads, runs, warmup, limit, image, device, json_out, csv_out, plot_out, bundle_out,
          from_bundle):
    """Latency (p50/p90/p99, FPS), peak memory, file size and top-1 of .tflite MODELS (and .keras with
    TensorFlow), one fresh process per model and thread count. Benchmarks print numbers; nothing is hidden."""
    if bundle_out:
        if not (models and data) or from_bundle:
            raise click.UsageError("--bundle needs MODELS and --data (and no --from-bundle)")
        from edgecls.bench.bundle import make_bundle

        manifest = make_bundle(models, data, bundle_out, limit, Path(image).read_bytes() if image else None)
        click.echo(f"wrote {bundle_out}: {len(manifest['models'])} models, {manifest['data']['count']} images")
        return
    if from_bundle and (models or data):
        raise click.UsageError("--from-bundle takes its models and data from the archive; pass no MODELS or --data")
    if plot_out and not (data or from_bundle):
        raise click.UsageError("--plot needs top-1 figures: pass --data or --from-bundle")
    from edgecls.bench.results import render, write_outputs
    from edgecls.bench.runner import BenchOptions, run_bench

    doc = run_bench(list(models), BenchOptions(threads, runs, warmup, data, limit, image, device), from_bundle)
    click.echo(render(doc))
    for path in write_outputs(doc, json_out, csv_out, plot_out):
        click.echo(f"wrote {path}")


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "md_out", type=click.Path(dir_okay=False), help="Also write the Markdown table here.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False),
              help="Write accuracy against latency (PNG), the Pareto front of every device marked.")
def report(results, md_out, plot_out):
    """Merge `edgecls bench --json` RESULTS from several devices into one Markdown table (and a plot)."""
    from edgecls.bench.results import merge_report
    from edgecls.fileio import write_text

    merged = merge_report(list(results))
    click.echo(merged.markdown, nl=False)
    if md_out:
        write_text(md_out, merged.markdown)
        click.echo(f"wrote {md_out}")
    if plot_out:
        from edgecls.plots import accuracy_latency_png

        click.echo(f"wrote {accuracy_latency_png(merged.rows, plot_out, 'accuracy against latency per device')}")
