"""CIFAR-10 and CIFAR-100 read from the official "python version" archives, with numpy alone.

The pickles are read straight out of the .tar.gz (or an extracted copy) through an unpickler that can build
numpy arrays and nothing else, so a tampered file cannot run code.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np

from edgecls.data import download
from edgecls.data.dataset import Dataset, Split
from edgecls.errors import EdgeclsError


@dataclasses.dataclass(frozen=True)
class CifarSpec:
    url: str
    md5: str
    folder: str                 # the one folder inside the archive
    train: tuple[str, ...]
    test: str
    meta: str
    names_key: bytes            # in the meta pickle
    labels_key: bytes           # in every batch pickle

    @property
    def archive(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def files(self) -> tuple[str, ...]:
        return (self.meta, *self.train, self.test)


SPECS = {
    "cifar10": CifarSpec("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                         "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch",
                         "batches.meta", b"label_names", b"labels"),
    "cifar100": CifarSpec("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                          "cifar-100-python", ("train",), "test", "meta", b"fine_label_names", b"fine_labels"),
}

# The only globals a CIFAR pickle needs: how numpy rebuilds an array and its dtype.
_NUMPY_CORE = "numpy._core" if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else "numpy.core"
_ALLOWED = {("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype")}


class _Refused(pickle.UnpicklingError):
    pass


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED and module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]  # numpy 1 wrote numpy.core, numpy 2 has numpy._core
        if (module, name) not in _ALLOWED:
            raise _Refused(f"{module}.{name}")
        return super().find_class(module.replace("numpy._core", _NUMPY_CORE, 1), name)


def unpickle(data: bytes, name: str) -> object:
    """Load a CIFAR pickle; anything but plain data and numpy arrays is refused with an error naming ``name``."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _Refused as exc:
        raise EdgeclsError(f"{name}: refused to load the global {exc}; a CIFAR pickle holds only data and "
                           "numpy arrays, so this file is not one (or was tampered with)") from None
    except Exception as exc:  # a corrupt pickle can raise almost anything; all of it means "not a CIFAR file"
        raise EdgeclsError(f"{name}: not a CIFAR pickle ({exc})") from None


def load_cifar(name: str, path: str | Path | None = None, progress: bool = True) -> Dataset:
    """CIFAR-10 (``name="cifar10"``) or CIFAR-100 (``"cifar100"``, fine labels) with ``train`` and ``test`` splits.

    Without ``path`` the official archive is downloaded once into the cache. ``path`` may be that .tar.gz,
    its extracted folder or the folder holding either.
    """
    if name not in SPECS:
        raise EdgeclsError(f"unknown CIFAR dataset {name!r}; choose from: {', '.join(SPECS)}")
    spec = SPECS[name]
    if path is None:
        path = download.fetch(spec.url, spec.md5, progress=progress,
                              hint=f"pass a local copy instead, e.g. `--data {name}:/path/to/{spec.archive}`")
    files = _read_files(spec, Path(path))
    where, data = files.pop(spec.meta)
    names = _field(_as_dict(unpickle(data, where), where), spec.names_key, where)
    classes = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
    splits = {"train": _split(spec, spec.train, files, len(classes)),
              "test": _split(spec, (spec.test,), files, len(classes))}
    return Dataset(name, classes, splits)


def _read_files(spec: CifarSpec, path: Path) -> dict[str, tuple[str, bytes]]:
    """Every file ``spec`` needs, from an archive or a folder: its name for messages and its raw bytes."""
    expected = f"the {spec.archive} archive, its extracted folder {spec.folder} or the folder that holds either"
    if path.is_dir():
        for folder in (path, path / spec.folder):
            if (folder / spec.meta).is_file():
                return {f: (str(folder / f), _read_file(folder / f, spec)) for f in spec.files}
        if (path / spec.archive).is_file():
            path = path / spec.archive
        else:
            raise EdgeclsError(f"{path}: no CIFAR files here; expected {expected}")
    if not path.is_file():
        raise EdgeclsError(f"{path}: no such file or folder; expected {expected}")
    return _read_tar(path, spec)


def _read_file(path: Path, spec: CifarSpec) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EdgeclsError(f"{path}: missing; the {spec.folder} folder must hold {', '.join(spec.files)}") from None
    except OSError as exc:
        raise EdgeclsError(f"{path}: cannot read ({exc.strerror})") from None


def _read_tar(path: Path, spec: CifarSpec) -> dict[str, tuple[str, bytes]]:
    wanted = {f"{spec.folder}/{f}": f for f in spec.files}
    found: dict[str, tuple[str, bytes]] = {}
    try:
        # Stream mode reads the gzip once, front to back, instead of seeking for each member.
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                key = wanted.get(member.name.removeprefix("./"))
                if key and member.isfile():
                    found[key] = (f"{path}: {spec.folder}/{key}", tar.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise EdgeclsError(f"{path}: not a readable CIFAR archive ({str(exc) or type(exc).__name__}); "
                           f"expected the official {spec.archive}") from None
    missing = [name for name, key in wanted.items() if key not in found]
    if missing:
        raise EdgeclsError(f"{path}: the archive lacks {', '.join(missing)}; expected the official {spec.archive}")
    return found


def _split(spec: CifarSpec, batches: Iterable[str], files: dict[str, tuple[str, bytes]], num_classes: int) -> Split:
    pixels, labels, paths = [], [], []
    for batch in batches:
        where, raw = files.pop(batch)  # pop: the raw bytes can go as soon as the batch is parsed
        content = _as_dict(unpickle(raw, where), where)
        data = _field(content, b"data", where)
        batch_labels = np.asarray(_field(content, spec.labels_key, where))
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
            raise EdgeclsError(f"{where}: 'data' must be an N x 3072 uint8 array; found {_describe(data)}")
        if batch_labels.shape != (len(data),) or not np.issubdtype(batch_labels.dtype, np.integer):
            raise EdgeclsError(f"{where}: expected {len(data)} integer labels; found {_describe(batch_labels)}")
        if len(batch_labels) and not 0 <= batch_labels.min() <= batch_labels.max() < num_classes:
            raise EdgeclsError(f"{where}: labels must lie in 0..{num_classes - 1}; "
                               f"found {batch_labels.min()}..{batch_labels.max()}")
        # Each row is 1024 red, then 1024 green, then 1024 blue values, each plane row-major 32 x 32.
        pixels.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(batch_labels)
        paths.extend(f"{spec.folder}/{batch}[{i}]" for i in range(len(data)))
    return Split(np.concatenate(labels), paths, pixels=np.ascontiguousarray(np.concatenate(pixels)))


def _as_dict(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise EdgeclsError(f"{where}: expected a pickled dict; found {type(value).__name__}")
    return value


def _field(content: dict, key: bytes, where: str) -> object:
    for k in (key, key.decode()):  # the official files have bytes keys; a re-pickled copy may have str keys
        if k in content:
            return content[k]
    raise EdgeclsError(f"{where}: no {key.decode()!r} entry (found: {', '.join(map(repr, content))})")


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
