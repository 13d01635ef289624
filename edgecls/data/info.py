"""``edgecls data info``: what a dataset holds, read from headers only (no full decode)."""

from __future__ import annotations

import numpy as np

from edgecls.data.dataset import Dataset
from edgecls.data.images import ImageError, image_size
from edgecls.errors import EdgeclsError


def describe(dataset: Dataset) -> dict:
    """Counts per class and split, image size range, class balance and unreadable files."""
    splits, sizes, unreadable = {}, [], []
    for name, split in dataset.splits.items():
        splits[name] = np.bincount(split.labels, minlength=dataset.num_classes).tolist()
        if split.pixels is not None:
            h, w = split.pixels.shape[1:3]
            sizes.append((w, h))
            continue
        for i, path in enumerate(split.paths):
            try:
                sizes.append(image_size(split.read(i), path))
            except ImageError as exc:
                unreadable.append((exc.name, exc.reason))
            except EdgeclsError as exc:
                unreadable.append((path, str(exc)))
    totals = np.sum([counts for counts in splits.values()], axis=0)
    w = [s[0] for s in sizes] or [0]
    h = [s[1] for s in sizes] or [0]
    return {
        "name": dataset.name,
        "classes": dataset.classes,
        "splits": splits,
        "total": int(totals.sum()),
        "balance": float(totals.min() / totals.max()) if totals.max() else 0.0,
        "width": [int(min(w)), int(max(w))],
        "height": [int(min(h)), int(max(h))],
        "unreadable": unreadable,
    }


def format_info(info: dict) -> str:
    names = list(info["splits"])
    width = max(8, *(len(c) for c in info["classes"]))
    lines = [f"{info['name']}: {len(info['classes'])} classes, {info['total']} images"]
    lines.append(f"{'class':<{width}}" + "".join(f"{n:>8}" for n in names) + f"{'total':>8}")
    for i, c in enumerate(info["classes"]):
        counts = [info["splits"][n][i] for n in names]
        lines.append(f"{c:<{width}}" + "".join(f"{v:>8}" for v in counts) + f"{sum(counts):>8}")
    lines.append(f"{'total':<{width}}" + "".join(f"{sum(info['splits'][n]):>8}" for n in names)
                 + f"{info['total']:>8}")
    lines.append(f"image size: width {info['width'][0]}-{info['width'][1]}, "
                 f"height {info['height'][0]}-{info['height'][1]}")
    lines.append(f"class balance (smallest / largest): {info['balance']:.2f}")
    for path, reason in info["unreadable"]:
        lines.append(f"unreadable: {path}: {reason}")
    if info["unreadable"]:
        lines.append(f"{len(info['unreadable'])} unreadable file(s) would be skipped")
    return "\n".join(lines)
