"""A benchmark bundle: models, a compact test slice and a manifest in one .tar.gz, for a device without TensorFlow.

Layout::

    manifest.json              schema, edgecls version, models (sha256, size), data source, count, classes
    models/<file>.tflite
    data-<W>x<H>.npz           pixels (N x H x W x 3 uint8), labels (N,), classes; one per model input size
    image.jpg                  the photo of the end-to-end column

Opening checks every member before extracting (regular files with relative names only, tarfile's "data"
filter) and every file's sha256 against the manifest.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from edgecls import __version__
from edgecls.bench.inputs import describe, load_test_slice, sample_jpeg
from edgecls.errors import EdgeclsError
from edgecls.fileio import atomic_path

SCHEMA = "edgecls-bundle/1"
MANIFEST = "manifest.json"
IMAGE = "image.jpg"


@dataclasses.dataclass
class Bundle:
    models: list[Path]
    classes: list[str]
    data: dict[tuple[tuple[int, int], str], tuple[np.ndarray, np.ndarray]]  # ((w, h), fit) -> (pixels, labels)
    image: bytes | None
    manifest: dict


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_name(size: tuple[int, int], fit: str) -> str:
    return f"data-{size[0]}x{size[1]}" + ("" if fit == "crop" else f"-{fit}") + ".npz"


def make_bundle(models: list[str | Path], data_source: str, out: str | Path, limit: int = 1000,
                image: bytes | None = None, seed: int = 0) -> dict:
    """Write the bundle to ``out`` and return its manifest: ``limit`` test images (stratified) at every
    distinct model input size, and ``image`` (default: the first test image, as JPEG) for the end-to-end figure."""
    infos = [describe(m) for m in models]
    for info in infos:
        if info.format == "keras":
            raise EdgeclsError(f"{info.path}: bundles hold .tflite models only (the device has no TensorFlow)")
    names = [info.path.name for info in infos]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise EdgeclsError(f"models share a file name ({', '.join(twice)}); rename one before bundling")
    classes, split, decoded = load_test_slice(data_source, infos, limit, seed)
    files: dict[str, bytes] = {}
    entries = []
    for info in infos:
        blob = info.path.read_bytes()
        files[f"models/{info.path.name}"] = blob
        entries.append({"file": f"models/{info.path.name}", "sha256": sha256(blob), "size_bytes": len(blob),
                        "name": info.name, "format": info.format})
    slices = []
    for (size, fit), (pixels, labels) in decoded.items():
        buf = io.BytesIO()
        np.savez_compressed(buf, pixels=pixels, labels=labels, classes=np.array(classes))
        name = data_name(size, fit)
        files[name] = buf.getvalue()
        slices.append({"file": name, "sha256": sha256(files[name]), "width": size[0], "height": size[1], "fit": fit,
                       "count": int(len(labels))})
    files[IMAGE] = image if image is not None else sample_jpeg(split, decoded)
    now = datetime.datetime.now(datetime.timezone.utc)
    manifest = {"schema": SCHEMA, "created_by": f"edgecls {__version__}", "created": now.isoformat(timespec="seconds"),
                "models": entries, "data": {"source": data_source, "split": "test", "count": len(split),
                                            "classes": classes, "seed": seed, "files": slices},
                "image": {"file": IMAGE, "sha256": sha256(files[IMAGE])}}
    files = {MANIFEST: json.dumps(manifest, indent=2).encode(), **files}
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for name, blob in files.items():
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(blob), 0o644
            member.mtime = int(now.timestamp())
            tar.addfile(member, io.BytesIO(blob))
    return manifest


def _check_members(archive: Path, tar: tarfile.TarFile) -> set[str]:
    """The archive's file names, once every member is known to be a plain file or folder inside it."""
    for member in tar.getmembers():
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
            raise EdgeclsError(f"{archive}: refusing unsafe bundle member {member.name!r} (absolute path, '..' or "
                               "not a regular file)")
    return {m.name for m in tar.getmembers() if m.isfile()}


def open_bundle(archive: str | Path, workdir: str | Path) -> Bundle:
    """Extract ``archive`` into ``workdir`` (a fresh temporary folder), verify it and load its test slices."""
    archive, workdir = Path(archive), Path(workdir)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _check_members(archive, tar)
            tar.extractall(workdir, filter="data")
    except tarfile.TarError as exc:
        raise EdgeclsError(f"{archive}: not a usable bundle ({exc})") from None
    except OSError as exc:
        raise EdgeclsError(f"{archive}: cannot read ({exc.strerror or exc})") from None
    try:
        manifest = json.loads((workdir / MANIFEST).read_text())
        if manifest.get("schema") != SCHEMA:
            raise ValueError(f"schema {manifest.get('schema')!r}, expected {SCHEMA}")
        listed = manifest["models"] + manifest["data"]["files"] + [manifest["image"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EdgeclsError(f"{archive}: not an edgecls bundle ({MANIFEST}: {exc})") from None
    for entry in listed:
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or name not in members:  # never read a file outside the bundle
            raise EdgeclsError(f"{archive}: the manifest lists {entry}, which the archive does not hold")
        found, listed_sha = sha256((workdir / name).read_bytes()), str(entry.get("sha256"))
        if found != listed_sha:
            raise EdgeclsError(f"{archive}: {name} does not match the manifest (sha256 {found[:12]}, "
                               f"expected {listed_sha[:12]}); the bundle is damaged or was altered")
    data = {}
    for entry in manifest["data"]["files"]:
        with np.load(workdir / entry["file"], allow_pickle=False) as z:
            data[((entry["width"], entry["height"]), entry["fit"])] = (z["pixels"], z["labels"])
    return Bundle([workdir / m["file"] for m in manifest["models"]], list(manifest["data"]["classes"]), data,
                  (workdir / manifest["image"]["file"]).read_bytes(), manifest)
