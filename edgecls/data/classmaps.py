"""Built-in maps from a dataset's folder names to the class names users expect."""

from __future__ import annotations

import json
from pathlib import Path

from edgecls.errors import EdgeclsError

# Kaggle's Animals-10 names its folders in Italian (and its own translate.py maps them to English).
ANIMALS10 = {
    "cane": "dog", "cavallo": "horse", "elefante": "elephant", "farfalla": "butterfly", "gallina": "chicken",
    "gatto": "cat", "mucca": "cow", "pecora": "sheep", "ragno": "spider", "scoiattolo": "squirrel",
}

BUILT_IN = {"animals10": ANIMALS10}


def resolve_class_map(spec: str | None, folder_names: list[str]) -> dict[str, str]:
    """``auto`` (or None) applies a built-in map when it covers every folder name; ``none`` keeps the names;
    a built-in name or a JSON file of {folder: class} applies that map."""
    if spec in (None, "auto"):
        for mapping in BUILT_IN.values():
            if folder_names and all(n in mapping for n in folder_names):
                return mapping
        return {}
    if spec == "none":
        return {}
    if spec in BUILT_IN:
        return BUILT_IN[spec]
    path = Path(spec)
    if not path.is_file():
        raise EdgeclsError(f"class map must be auto, none, {', '.join(BUILT_IN)} or a JSON file; received {spec!r}")
    try:
        mapping = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EdgeclsError(f"{path}: not a JSON object of folder -> class names ({exc})") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise EdgeclsError(f"{path}: not a JSON object of folder -> class names")
    return mapping
