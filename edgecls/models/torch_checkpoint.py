"""Read the tensors of a PyTorch checkpoint (a state dict) into numpy arrays, without PyTorch.

Both of ``torch.save``'s formats are read:

- legacy (before PyTorch 1.6): a raw stream of pickles, the magic number, the protocol version and a sys-info dict,
  then the state dict (whose tensors point at storages through pickle persistent ids), then the list of storage
  keys, then for each key in that order an 8-byte little-endian element count followed by the storage's raw bytes;
- zip (PyTorch 1.6 and later): ``<folder>/data.pkl`` with the same kind of pickle, and ``<folder>/data/<key>``
  holding each storage's raw bytes (byte order in ``<folder>/byteorder``, little-endian when absent).

A pickle can name any importable callable, so the state dict is read by an unpickler that knows only the few globals
a state dict needs (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the typed storage classes),
each replaced by a stand-in here; anything else is refused before it is looked up. pure numpy and stdlib.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from edgecls.errors import EdgeclsError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# The element type of each storage class ``torch.save`` names (bfloat16 is read as its upper 16 bits).
STORAGE_DTYPES = {
    "DoubleStorage": "f8", "FloatStorage": "f4", "HalfStorage": "f2", "BFloat16Storage": "u2",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}


@dataclasses.dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(STORAGE_DTYPES[self.name])


@dataclasses.dataclass(frozen=True)
class _StorageRef:
    """What a persistent id resolves to: a storage, or (legacy) a view of one from ``offset`` on."""

    key: str
    type: _StorageType
    offset: int = 0


@dataclasses.dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _Refused(pickle.UnpicklingError):
    pass


def _ints(value, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(type(v) is int and v >= 0 for v in value):
        raise pickle.UnpicklingError(f"a tensor's {what} must be a tuple of integers >= 0; received {value!r}")
    return value


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """Stands in for ``torch._utils._rebuild_tensor_v2``: records where the tensor's elements are."""
    if not isinstance(storage, _StorageRef) or type(storage_offset) is not int or storage_offset < 0:
        raise pickle.UnpicklingError("a tensor must be rebuilt from a storage and an offset")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise pickle.UnpicklingError(f"a tensor's size {size} and stride {stride} differ in length")
    return _TensorRef(storage, storage.offset + storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    """Stands in for ``torch._utils._rebuild_tensor`` (older files)."""
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _PlainUnpickler(pickle.Unpickler):
    """For the legacy header and key list: plain data only, no globals and no persistent ids."""

    def find_class(self, module: str, name: str):
        raise _Refused(f"{module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("unexpected persistent id")


class _StateDictUnpickler(pickle.Unpickler):
    """Builds ``_TensorRef`` stand-ins and records every storage the pickle refers to."""

    def __init__(self, file, legacy: bool):
        super().__init__(file)
        self.legacy = legacy
        self.storages: dict[str, tuple[_StorageType, int]] = {}

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, element count) plus, in the legacy format, a view description
        # (view key, offset, view size) or None.
        if not isinstance(pid, tuple) or len(pid) != (6 if self.legacy else 5) or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or type(numel) is not int:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        known = self.storages.setdefault(key, (storage_type, numel))
        if known != (storage_type, numel):
            raise pickle.UnpicklingError(f"storage {key!r} is described twice, differently")
        view = pid[5] if self.legacy else None
        if view is None:
            return _StorageRef(key, storage_type)
        if not (isinstance(view, tuple) and len(view) == 3 and type(view[1]) is int and view[1] >= 0):
            raise pickle.UnpicklingError(f"unexpected storage view {view!r}")
        return _StorageRef(key, storage_type, view[1])


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of the PyTorch state dict saved at ``path``, by name, as numpy arrays in their own dtype.

    Anything that is not a mapping of names to tensors (another global, a truncated or corrupt file, extra bytes
    after the last storage) is an EdgeclsError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise EdgeclsError(f"{path}: no such checkpoint file")
    try:
        if zipfile.is_zipfile(path):
            state, storages = _read_zip(path)
        else:
            with open(path, "rb") as f:
                state, storages = _read_legacy(f)
        return {name: _materialize(name, ref, storages) for name, ref in state.items()}
    except _Refused as exc:
        raise EdgeclsError(f"{path}: refused to load the global {exc}; a PyTorch state dict needs only tensors, "
                           "their storages and OrderedDict, so this file is not a plain state dict "
                           "(or was tampered with)") from None
    except EdgeclsError:
        raise
    except Exception as exc:  # a corrupt pickle or zip can raise almost anything; all of it means "not readable"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeclsError(f"{path}: not a readable PyTorch state dict ({reason})") from None


def _read_legacy(f) -> tuple[dict, dict[str, np.ndarray]]:
    magic = _PlainUnpickler(f).load()
    if magic != LEGACY_MAGIC:
        raise ValueError("neither a zip archive nor a legacy torch.save stream (wrong magic number)")
    protocol = _PlainUnpickler(f).load()
    if protocol != LEGACY_PROTOCOL:
        raise ValueError(f"legacy protocol version {protocol!r}, expected {LEGACY_PROTOCOL}")
    sys_info = _PlainUnpickler(f).load()
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise ValueError("written on a big-endian machine, which this reader does not support")
    unpickler = _StateDictUnpickler(f, legacy=True)
    state = _state_dict(unpickler.load())
    keys = _PlainUnpickler(f).load()
    if not isinstance(keys, list) or sorted(keys) != sorted(unpickler.storages):
        raise ValueError("the list of storage keys does not match the storages the tensors use")
    data = {}
    for key in keys:
        storage_type, numel = unpickler.storages[key]
        count = int.from_bytes(_read_exactly(f, 8, key), "little")
        if count != numel:
            raise ValueError(f"storage {key!r} holds {count} elements, its tensors expect {numel}")
        dtype = storage_type.dtype.newbyteorder("<")
        data[key] = np.frombuffer(_read_exactly(f, count * dtype.itemsize, key), dtype)
    if f.read(1):
        raise ValueError("unexpected bytes after the last storage")
    return state, data


def _read_exactly(f, n: int, key: str) -> bytes:
    chunk = f.read(n)
    if len(chunk) != n:
        raise ValueError(f"truncated in storage {key!r}")
    return chunk


def _read_zip(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"a torch.save zip holds one <folder>/data.pkl; found {len(pickles)}")
        folder = pickles[0][: -len("data.pkl")]
        order = "<"
        if f"{folder}byteorder" in archive.namelist():
            order = {b"little": "<", b"big": ">"}[archive.read(f"{folder}byteorder").strip()]
        unpickler = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), legacy=False)
        state = _state_dict(unpickler.load())
        data = {}
        for key, (storage_type, numel) in unpickler.storages.items():
            raw = archive.read(f"{folder}data/{key}")
            dtype = storage_type.dtype.newbyteorder(order)
            if len(raw) != numel * dtype.itemsize:
                raise ValueError(f"storage {key!r} holds {len(raw)} bytes, its tensors expect {numel * dtype.itemsize}")
            data[key] = np.frombuffer(raw, dtype)
    return state, data


def _state_dict(obj) -> dict[str, _TensorRef]:
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, _TensorRef) for k, v in obj.items()):
        raise ValueError("the pickle is not a state dict (a mapping of names to tensors)")
    return dict(obj)


def _materialize(name: str, ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    """The tensor's elements as an array of its own: storage + offset + size + stride, bounds checked."""
    flat = storages[ref.storage.key]
    if ref.storage.type.name == "BFloat16Storage":  # numpy has no bfloat16: it is the upper half of a float32
        flat = (flat.astype(np.uint32) << 16).view(np.float32)
    else:
        flat = flat.astype(flat.dtype.newbyteorder("="), copy=False)
    if 0 not in ref.size:
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
        if last >= len(flat):
            raise ValueError(f"tensor {name!r} reaches element {last} of a storage of {len(flat)}")
    else:
        return np.zeros(ref.size, flat.dtype)
    view = np.lib.stride_tricks.as_strided(flat[ref.offset:], shape=ref.size,
                                           strides=[s * flat.itemsize for s in ref.stride], writeable=False)
    return np.array(view, order="C")  # a copy of its own, C-ordered whatever the strides
