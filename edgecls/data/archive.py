"""One read-only view over a folder, a .zip or a .tar(.gz) archive, so datasets load without extracting."""

from __future__ import annotations

import os
import tarfile
import threading
import zipfile
from pathlib import Path, PurePosixPath

from edgecls.errors import EdgeclsError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def is_image_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


class Tree:
    """Lists image files as POSIX paths relative to the root and reads their bytes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        if self.path.is_dir():
            self.kind = "folder"
        elif not self.path.exists():
            raise EdgeclsError(f"{self.path}: no such file or folder")
        elif zipfile.is_zipfile(self.path):
            self.kind = "zip"
            self._zip = zipfile.ZipFile(self.path)
        elif tarfile.is_tarfile(self.path):
            self.kind = "tar"
            try:
                self._tar = tarfile.open(self.path)
                self._members = {m.name: m for m in self._tar.getmembers() if m.isfile()}
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise EdgeclsError(f"{self.path}: unreadable tar archive ({exc})") from None
        else:
            raise EdgeclsError(f"{self.path}: not a folder, .zip or .tar archive")

    def files(self) -> list[str]:
        if self.kind == "folder":
            names = []
            for root, dirs, files in os.walk(self.path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                rel = Path(root).relative_to(self.path).as_posix()
                names.extend(f if rel == "." else f"{rel}/{f}" for f in files)
            return sorted(names)
        if self.kind == "zip":
            return sorted(i.filename for i in self._zip.infolist() if not i.is_dir())
        return sorted(self._members)

    def read(self, name: str) -> bytes:
        try:
            if self.kind == "folder":
                return (self.path / name).read_bytes()
            with self._lock:  # zipfile and tarfile share one file handle
                if self.kind == "zip":
                    return self._zip.read(name)
                handle = self._tar.extractfile(self._members[name])
                return handle.read() if handle else b""
        except (OSError, KeyError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            raise EdgeclsError(f"{self.display(name)}: cannot read ({exc})") from None

    def display(self, name: str) -> str:
        return f"{self.path}/{name}" if self.kind == "folder" else f"{self.path}!{name}"
