"""Expand the PATH arguments of ``classify``: files, globs and folders, in a stable order."""

from __future__ import annotations

import glob
import os
from pathlib import Path


def expand_inputs(paths: list[str]) -> list[str]:
    """Folders give every non-hidden file inside them (recursively, sorted), so a stray non-image is reported
    rather than silently passed over; patterns that match nothing and missing files stay as given, so the
    caller reports them."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out.extend(str(Path(root) / f) for f in sorted(files) if not f.startswith("."))
        elif not os.path.exists(p) and glob.has_magic(p):
            matches = sorted(glob.glob(p, recursive=True))
            out.extend(m for m in matches if os.path.isfile(m)) if matches else out.append(p)
        else:
            out.append(p)
    return out
