"""``--data SOURCE``: one parser from the user's string to a Dataset.

SOURCE is ``cifar10`` or ``cifar100`` (downloaded once into the cache), ``cifar10:PATH`` for a local copy of the
official archive or its extracted folder, or a path to a class-folder dataset (folder, .zip, .tar, .tar.gz).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from edgecls.data.dataset import Dataset
from edgecls.errors import EdgeclsError

CIFAR = ("cifar10", "cifar100")


@dataclasses.dataclass(frozen=True)
class DataOptions:
    class_map: str | None = None     # auto | none | animals10 | a JSON file
    test_fraction: float = 0.2       # held out when a folder dataset has no test/ split
    seed: int = 0
    progress: bool = True


def load_dataset(source: str, options: DataOptions = DataOptions()) -> Dataset:
    name, _, path = source.partition(":")
    if name in CIFAR:
        from edgecls.data.cifar import load_cifar

        return load_cifar(name, path or None, progress=options.progress)
    if not Path(source).exists():
        raise EdgeclsError(f"data source must be {', '.join(CIFAR)}, NAME:PATH or an existing folder or archive; "
                           f"received {source!r}")
    from edgecls.data.folders import load_folder

    return load_folder(source, options.class_map, options.test_fraction, options.seed)
