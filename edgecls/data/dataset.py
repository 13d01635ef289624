"""The in-memory shape every data source produces: class names and labelled splits."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

SPLIT_NAMES = ("train", "val", "test")


@dataclasses.dataclass
class Split:
    """One split of a dataset.

    Images either exist as decoded pixels already (``pixels``, N x H x W x 3 uint8, as CIFAR ships them)
    or as encoded files read on demand through ``read(i) -> bytes`` (folders and archives).
    ``paths`` names every item the way error messages should show it.
    """

    labels: np.ndarray
    paths: list[str]
    pixels: np.ndarray | None = None
    read: Callable[[int], bytes] | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) != len(self.paths):
            raise ValueError("labels and paths differ in length")
        if self.pixels is None and self.read is None:
            raise ValueError("a split needs pixels or a reader")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> "Split":
        index = np.asarray(index, dtype=np.int64)
        pixels = None if self.pixels is None else self.pixels[index]
        read = None
        if self.read is not None and self.pixels is None:
            parent_read = self.read

            def read(i: int, _index=index) -> bytes:
                return parent_read(int(_index[i]))

        return Split(self.labels[index], [self.paths[i] for i in index], pixels, read)


@dataclasses.dataclass
class Dataset:
    """Class names, splits keyed by ``train`` / ``val`` / ``test``, and the files that could not be used."""

    name: str
    classes: list[str]
    splits: dict[str, Split]
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> Split:
        if name not in self.splits:
            from edgecls.errors import EdgeclsError

            raise EdgeclsError(f"dataset {self.name!r} has no {name!r} split (it has: {', '.join(self.splits)})")
        return self.splits[name]


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (keep, held_out) with ``fraction`` of every class held out, reproducibly."""
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_held = int(round(len(idx) * fraction))
        if len(idx) > 1:
            n_held = min(max(n_held, 1), len(idx) - 1)
        else:
            n_held = 0
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def stratified_sample(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Pick up to ``count`` indices spread over the classes in proportion to their size, at least one of every
    class while ``count`` allows, reproducibly (for calibration and held-out slices)."""
    labels = np.asarray(labels)
    if count >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        picks.append(idx[:max(1, int(round(len(idx) * count / len(labels))))])
    # Rounding up can overshoot ``count``: trim round-robin (every class's first pick comes first) so the
    # trim takes later picks of the big classes, never the only pick of a small one.
    rank = np.concatenate([np.arange(len(p)) for p in picks])
    chosen = np.concatenate(picks)[np.argsort(rank, kind="stable")]
    return np.sort(chosen[:count])
