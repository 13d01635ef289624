from __future__ import annotations

import shlex
import sys

import click

from edgecls.convert.quantization import IO_TYPES
from edgecls.convert.tta import TTAS


def _formats(ctx, param, value: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in value.split(",") if f.strip())


@click.command()
@click.argument("source", type=click.Path(exists=True))
@click.option("--formats", default="int8", show_default=True, callback=_formats,
              help="Comma-separated: fp32, fp16, dynamic, int8, qat.")
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
@click.option("--qat-epochs", default=2, show_default=True, type=click.IntRange(1))
@click.option("--qat-lr", "qat_learning_rate", default=1e-4, show_default=True, type=float,
              help="QAT fine-tuning rate (MobileNetV2 did best at 1e-5, see docs/conversion.md).")
@click.option("--qat-limit", type=click.IntRange(1), help="Fine-tune QAT on at most N training images.")
@click.option("--input-size", type=click.IntRange(8),
              help="Export at this square input (e.g. a transfer base's own size) instead of the training size.")
@click.option("--tta", default="none", show_default=True,
              type=click.Choice(TTAS),
              help="Test-time augmentation inside the exported graph: flip averages the image and its mirror "
                   "image (twice the compute); flip-shift adds one-pixel shifts of both (six times).")
def convert(source, out, per_tensor, **options):
    """Convert SOURCE (a run folder or a .keras file in one) to TFLite, check each file against the Keras
    model on held-out images, and write manifest.json."""
    from edgecls.convert.converter import ConvertOptions, convert as run

    run(source, out, ConvertOptions(per_channel=not per_tensor, **options), command=shlex.join(["edgecls", *sys.argv[1:]]))
