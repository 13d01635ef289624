"""Conversion benchmark: convert a trained run to every format and print what each format costs.

    python bench/conversion.py RUN_DIR --out DIR [--formats fp32,fp16,dynamic,int8,qat] [--verify-samples 10000]
        [--qat-epochs N] [--qat-limit N] [--input-size N] [--tta none|flip] [--data SOURCE]

Prints the Markdown table format | size | top-1 | delta vs fp32 | agreement (with Keras) from the manifest
`edgecls convert` writes; with --manifest it only prints an existing manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def table(manifest: list[dict]) -> str:
    fp32 = next((m["top1"] for m in manifest if m["format"] == "fp32"), None)
    lines = ["| format | size | top-1 | Δ vs fp32 | agreement | input | output |",
             "|---|---:|---:|---:|---:|---|---|"]
    for m in manifest:
        delta = "" if fp32 is None else f"{100 * (m['top1'] - fp32):+.2f} pts"
        lines.append(f"| {m['format']} | {m['size_bytes'] / 1e6:.3f} MB | {m['top1']:.4f} | {delta} | "
                     f"{m['agreement']:.4f} | {m['input_dtype']} | {m['output_dtype']} |")
    if manifest:
        lines.append(f"\nKeras float model on the same {manifest[0].get('count', '')} images: "
                     f"top-1 {manifest[0]['keras_top1']:.4f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?")
    parser.add_argument("--out")
    parser.add_argument("--formats", default="fp32,fp16,dynamic,int8,qat")
    parser.add_argument("--verify-samples", type=int, default=10000)
    parser.add_argument("--calibration-samples", type=int, default=500)
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--qat-limit", type=int, help="Fine-tune QAT on at most N training images.")
    parser.add_argument("--input-size", type=int, help="Export at this square input (edgecls convert --input-size).")
    parser.add_argument("--tta", default="none", choices=("none", "flip"),
                        help="Test-time augmentation in the exported graph (edgecls convert --tta).")
    parser.add_argument("--data", help="Calibration and check data (default: the run's own).")
    parser.add_argument("--manifest", help="Only print this existing manifest.json.")
    args = parser.parse_args(argv)
    if args.manifest:
        manifest = json.loads(Path(args.manifest).read_text())
    else:
        if not (args.run_dir and args.out):
            parser.error("RUN_DIR and --out are required unless --manifest is given")
        from edgecls.convert.converter import ConvertOptions, convert

        options = ConvertOptions(formats=tuple(args.formats.split(",")), verify_samples=args.verify_samples,
                                 calibration_samples=args.calibration_samples, qat_epochs=args.qat_epochs,
                                 qat_limit=args.qat_limit, input_size=args.input_size, tta=args.tta, data=args.data)
        manifest = convert(args.run_dir, args.out, options, command=" ".join(["python", *sys.argv]))
    print(table(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
