from __future__ import annotations

import shlex
import sys

import click

from edgecls.convert.quantization import IO_TYPES


def _formats(ctx, param, value: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in value.split(",") if f.strip())


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--formats", default="int8", show_default=True, callback=_formats,
              help="Comma-separated: fp32, fp16, dynamic, int8.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for the .tflite files.")
@click.option("--data", "data", metavar="SOURCE", help="Calibration and check data (default: the run's own).")
@click.option("--calibration-samples", default=500, show_default=True, type=click.IntRange(1))
@click.option("--verify-samples", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--input-type", default="uint8", show_default=True, type=click.Choice(IO_TYPES), help="int8 only.")
@click.option("--output-type", default="uint8", show_default=True, type=click.Choice(IO_TYPES), help="int8 only.")
@click.option("--per-tensor", is_flag=True, help="int8 weights per tensor instead of per channel.")
@click.option("--threshold", default=0.01, show_default=True, type=float,
              help="Largest top-1 drop against Keras before a format is flagged.")
@click.option("--strict", is_flag=True, help="A flagged format is an error.")
def convert(run_dir, out, per_tensor, **options):
    """Convert the model of RUN_DIR to TFLite, verify each file against Keras, and write a manifest."""
    from edgecls.convert.converter import ConvertOptions, convert as run

    run(run_dir, out, ConvertOptions(per_channel=not per_tensor, **options), command=shlex.join(["edgecls", *sys.argv[1:]]))
