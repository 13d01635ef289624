"""Build the docs/results.md table from measurements already made: `edgecls evaluate --json` files (accuracy,
macro precision / recall / F1 on the test set), `edgecls bench --json` files (size, p50 latency at 1 and 2
threads) and the training runs (wall time, from history.csv's `seconds` column or a training log's
`epoch N  123s` lines). Nothing is measured here; every number comes from one of those files.

    python bench/results_table.py --eval runs/eval/*.json --bench bench/results/*.json \
        --run resnet9-s=runs/resnet9-s --train resnet9-s=runs/resnet9-s --train resnet9-xs=runs/resnet9-xs.log
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

# What the seed projects published for these architectures, quoted as the issues give them (top-1 on CIFAR-10
# unless marked; their own GPUs and epochs). The seeds' precision / recall / F1 / latency are not in our records.
SEEDS = [
    ("cnn-baseline", "0.660", "grayscale input"),
    ("cnn-rmsprop-dropout", "0.680", ""),
    ("cnn3-bn", "0.806", ""),
    ("cnn-dropout-ramp", "0.84", ""),
    ("cnn4-gap-l2", "0.857", "GPU"),
    ("vgg6", "0.81", "15 epochs, no augmentation"),
    ("vgg6-bn", "0.91", "augmentation, 50 epochs"),
    ("efficientnetb0 + conv head", "0.920 (tanh) / 0.916 (relu)", "ImageNet weights"),
    ("mobilenetv2 + dense head", "0.937", "Animals-10, not CIFAR-10"),
]
FORMAT_ORDER = {"keras": -1, "fp32": 0, "fp16": 1, "dynamic": 2, "int8": 3, "qat": 4}


def model_and_format(path: str) -> tuple[str, str]:
    stem = Path(path).stem
    name, _, fmt = stem.rpartition("-")
    return (name, fmt) if fmt in FORMAT_ORDER else (stem, "?")


def training_seconds(source: Path) -> float | None:
    if source.is_dir():
        history = source / "history.csv"
        rows = list(csv.DictReader(history.open())) if history.is_file() else []
        if rows and "seconds" in rows[0]:
            return sum(float(r["seconds"]) for r in rows)
        return None
    seconds = [float(m) for m in re.findall(r"^epoch \d+\s+(\d+)s", source.read_text(), re.M)]
    return sum(seconds) or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", nargs="+", default=[], type=Path, help="edgecls evaluate --json files")
    parser.add_argument("--bench", nargs="+", default=[], type=Path, help="edgecls bench --json files")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=RUN_DIR",
                        help="a Keras row for NAME from the run's metrics.json (repeatable)")
    parser.add_argument("--train", action="append", default=[], metavar="NAME=RUN_DIR|LOG",
                        help="training wall time of the model NAME (repeatable)")
    args = parser.parse_args()

    latency: dict[tuple[str, str], dict[int, dict]] = {}
    for path in args.bench:
        for r in json.loads(path.read_text())["results"]:
            latency.setdefault(model_and_format(r["model"]), {})[r["threads"]] = r
    train = {}
    for item in args.train:
        name, _, source = item.partition("=")
        train[name] = training_seconds(Path(source))

    rows = []
    for path in args.eval:
        e = json.loads(path.read_text())
        rows.append((*model_and_format(e["model"]), e))
    for item in args.run:
        name, _, run_dir = item.partition("=")
        rows.append((name, "keras", json.loads((Path(run_dir) / "metrics.json").read_text())))
    rows.sort(key=lambda r: (r[0], FORMAT_ORDER.get(r[1], 9)))
    # Δ against the float32 .tflite, or against the Keras model where no fp32 file was made.
    reference = {name: e["accuracy"] for name, fmt, e in rows if fmt == "keras"}
    reference.update({name: e["accuracy"] for name, fmt, e in rows if fmt == "fp32"})

    rows_first = {}
    for name, fmt, _ in rows:
        rows_first.setdefault(name, fmt)
    print("| Model | Format | Top-1 | Precision | Recall | F1 | Δ vs float (pts) | Size MB | p50 ms, 1 thread "
          "| p50 ms, 2 threads | Training |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, fmt, e in rows:
        lat = latency.get((name, fmt), {})
        size = next((r["size_bytes"] for r in lat.values()), None)
        delta = f"{(e['accuracy'] - reference[name]) * 100:+.2f}" if name in reference else "—"
        seconds = train.get(name)
        cells = [name, fmt, f"{e['accuracy']:.4f}", f"{e['precision_macro']:.4f}", f"{e['recall_macro']:.4f}",
                 f"{e['f1_macro']:.4f}", delta, f"{size / 1e6:.2f}" if size else "—",
                 *(f"{lat[t]['p50_ms']:.3f}" if t in lat else "—" for t in (1, 2)),
                 f"{seconds / 60:.0f} min" if seconds and fmt == rows_first[name] else ""]
        print("| " + " | ".join(cells) + " |")
    print()
    print("Seeds' published figures (quoted, not rerun here):")
    print()
    print("| Seed model | Top-1 as published | Notes |")
    print("|---|---|---|")
    for name, top1, note in SEEDS:
        print(f"| {name} | {top1} | {note} |")


if __name__ == "__main__":
    main()
