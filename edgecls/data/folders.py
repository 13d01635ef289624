"""Class-folder datasets: ``<class>/<image>`` or ``{train,val,test}/<class>/<image>``, in a folder or an archive."""

from __future__ import annotations

from collections import defaultdict
from pathlib import PurePosixPath

import numpy as np

from edgecls.data.archive import Tree, is_image_name
from edgecls.data.classmaps import resolve_class_map
from edgecls.data.dataset import SPLIT_NAMES, Dataset, Split, stratified_split
from edgecls.errors import EdgeclsError

SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "test": "test", "testing": "test"}


def _layout(files: list[str]) -> dict[str, dict[str, list[str]]]:
    """Group image files as {split: {class folder: [files]}}; split is "" when the data has no split folders."""
    by_dir: dict[PurePosixPath, list[str]] = defaultdict(list)
    for f in files:
        by_dir[PurePosixPath(f).parent].append(f)
    class_dirs = [d for d in by_dir if d.name]
    if not class_dirs:
        raise EdgeclsError("no class folders found: images must sit in one folder per class")
    parents = {d.parent for d in class_dirs}
    if len(parents) == 1:
        return {"": {d.name: sorted(by_dir[d]) for d in class_dirs}}
    grandparents = {p.parent for p in parents}
    names = {p.name.lower() for p in parents}
    if len(grandparents) == 1 and names <= set(SPLIT_ALIASES):
        layout: dict[str, dict[str, list[str]]] = defaultdict(dict)
        for d in class_dirs:
            layout[SPLIT_ALIASES[d.parent.name.lower()]][d.name] = sorted(by_dir[d])
        return dict(layout)
    shown = ", ".join(sorted(str(p) for p in parents)[:4])
    raise EdgeclsError(f"class folders sit under several parents ({shown}); expected <class>/ or train|val|test/<class>/")


def load_folder(path: str, class_map: str | None = None, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Index a class-folder dataset. Images are not decoded here; ``Split.read`` fetches bytes on demand."""
    tree = Tree(path)
    files = [f for f in tree.files() if is_image_name(f)]
    if not files:
        raise EdgeclsError(f"{path}: no image files found")
    try:
        layout = _layout(files)
    except EdgeclsError as exc:
        raise EdgeclsError(f"{path}: {exc}") from None
    folders = sorted({c for classes in layout.values() for c in classes})
    mapping = resolve_class_map(class_map, folders)
    classes = sorted({mapping.get(f, f) for f in folders})
    index = {c: i for i, c in enumerate(classes)}

    def make_split(groups: dict[str, list[str]]) -> Split:
        names = [f for folder in sorted(groups) for f in groups[folder]]
        labels = [index[mapping.get(folder, folder)] for folder in sorted(groups) for _ in groups[folder]]
        return Split(np.array(labels), [tree.display(n) for n in names], read=lambda i, _n=names: tree.read(_n[i]))

    if "" in layout:
        whole = make_split(layout[""])
        keep, held = stratified_split(whole.labels, test_fraction, seed)
        splits = {"train": whole.subset(keep), "test": whole.subset(held)}
    else:
        splits = {name: make_split(layout[name]) for name in SPLIT_NAMES if name in layout}
        if "train" not in splits:
            raise EdgeclsError(f"{path}: has split folders {', '.join(splits)} but no train/")
    name = PurePosixPath(str(path).rstrip("/")).name
    return Dataset(name, classes, splits)
