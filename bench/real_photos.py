"""How a CIFAR-10 model does on real photos: the Animals-10 classes that are also CIFAR-10 classes.

    python bench/real_photos.py MODEL.tflite [--data ../shared/datasets/animals10-sample.zip]

Animals-10's dog, horse, cat and chicken photos map to CIFAR-10's dog, horse, cat and bird; the other
Animals-10 classes have no CIFAR-10 counterpart and are left out. Prints per-class and overall top-1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TO_CIFAR = {"dog": "dog", "horse": "horse", "cat": "cat", "chicken": "bird"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "animals10-sample.zip"))
    args = parser.parse_args(argv)

    from edgecls.data import load_dataset
    from edgecls.runtime import Classifier

    classifier = Classifier(args.model)
    dataset = load_dataset(args.data)
    rows, total, right = [], 0, 0
    for name, cifar in TO_CIFAR.items():
        c = dataset.classes.index(name)
        hits = n = 0
        for split in dataset.splits.values():
            for i in np.flatnonzero(split.labels == c):
                top = classifier.classify(split.read(int(i)), name=split.paths[i]).top[0]
                hits += top.label == cifar
                n += 1
        rows.append(f"| {name} → {cifar} | {hits}/{n} | {hits / n:.3f} |")
        total, right = total + n, right + hits
    print(f"model: {args.model}\ndata: {args.data}\n")
    print("| Animals-10 → CIFAR-10 | correct | top-1 |\n|---|---:|---:|")
    print("\n".join(rows))
    print(f"| all | {right}/{total} | {right / total:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
