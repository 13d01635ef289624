"""What averaging models would score: top-1 of each .tflite file and of every combination of them.

    python bench/ensemble.py A.tflite B.tflite [C.tflite ...] --data ../shared/datasets/cifar10-jpeg.zip

Each file reads the split at its own input size, as ``edgecls evaluate`` does; a combination averages the files'
probabilities with equal weights. It is a reading of what an ensemble could buy, not a model: no file here holds
the ensemble, and its latency would be about the sum of its members'.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np


def probabilities(model: str, data: str, split: str, threads: int | None, classes: list[str] | None):
    """The model's probabilities with columns in ``classes`` order (default: its own labels'), the true classes
    as indices into ``classes``, and ``classes``."""
    from edgecls.errors import EdgeclsError
    from edgecls.evaluate import predict_split

    found = predict_split(model, data, split, threads=threads)
    classes = classes or found.labels
    if sorted(classes) != sorted(found.labels):
        raise EdgeclsError(f"{model}: its labels ({', '.join(found.labels)}) are not those of the first model")
    order = [found.labels.index(c) for c in classes]
    to_classes = np.array([classes.index(c) for c in found.labels])
    return found.probs[:, order], to_classes[found.y], classes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help=".tflite files (at most 10)")
    parser.add_argument("--data", required=True, help="a dataset edgecls reads, e.g. cifar10:PATH or a folder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if len(args.models) > 10:
        parser.error(f"at most 10 models (2^n combinations); received {len(args.models)}")

    from edgecls.errors import EdgeclsError

    names = [Path(m).stem for m in args.models]
    runs, classes = [], None
    try:
        for model in args.models:
            probs, labels, classes = probabilities(model, args.data, args.split, args.threads, classes)
            runs.append((probs, labels))
    except EdgeclsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    labels = runs[0][1]
    if any(len(y) != len(labels) or (y != labels).any() for _, y in runs[1:]):
        print("error: the models did not read the same images (a file skipped for one but not another)",
              file=sys.stderr)
        return 2
    rows = []
    for size in range(1, len(runs) + 1):
        for combo in itertools.combinations(range(len(runs)), size):
            mean = sum(runs[i][0] for i in combo) / size
            rows.append((size, float((mean.argmax(axis=1) == labels).mean()), " + ".join(names[i] for i in combo)))
    print(f"top-1 on {len(labels)} {args.split} images of {args.data}, probabilities averaged\n")
    print("| models | top-1 |\n|---|---:|")
    for size, accuracy, label in sorted(rows, key=lambda r: (r[0], -r[1])):
        print(f"| {label} | {accuracy:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
