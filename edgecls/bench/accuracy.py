"""Top-1 of a model on decoded data, with classes matched by name, and the drop against the fp32 sibling."""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgecls.errors import EdgeclsError


def class_remap(data_classes: list[str], model_labels: list[str], model: str) -> np.ndarray:
    """Index array turning the data's class indices into the model's output indices, matched by class name.
    A model without labels (outputs named "0", "1", ...) of the right width is taken in the data's order."""
    if model_labels == [str(i) for i in range(len(data_classes))]:
        return np.arange(len(data_classes))
    missing = [c for c in data_classes if c not in model_labels]
    if missing:
        raise EdgeclsError(f"{model}: the data's classes {', '.join(missing[:5])} are not among the model's labels "
                           f"({', '.join(model_labels[:10])}); benchmark it on data with the model's classes")
    return np.array([model_labels.index(c) for c in data_classes], np.int64)


def top1(predict: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, labels: np.ndarray,
         data_classes: list[str], model_labels: list[str], model: str) -> tuple[float | None, int]:
    """(top-1, image count) of ``predict`` (N x H x W x 3 uint8 -> N x classes) on ``pixels``."""
    remap = class_remap(data_classes, model_labels, model)
    if not len(pixels):
        return None, 0
    predicted = np.asarray(predict(pixels)).argmax(axis=1)
    return float((predicted == remap[np.asarray(labels, np.int64)]).mean()), int(len(pixels))


def add_deltas(rows: list[dict]) -> list[dict]:
    """Set ``delta`` = top1 - top1 of the fp32 model of the same name (negative: accuracy lost), else None."""
    reference = {r["name"]: r["top1"] for r in rows if r["format"] == "fp32" and r["top1"] is not None}
    for r in rows:
        ref = reference.get(r["name"])
        r["delta"] = r["top1"] - ref if r["top1"] is not None and ref is not None else None
    return rows
