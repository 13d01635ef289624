"""Named training recipes: TOML files of TrainConfig settings, shipped in ``edgecls/recipes``.

A recipe holds everything but the data's location may be overridden on the command line; keys
``description`` and ``reference`` document it and are not settings.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from edgecls.errors import EdgeclsError
from edgecls.registry import unknown_name

DOC_KEYS = ("description", "reference")


def _recipe_files() -> dict[str, Path]:
    folder = Path(str(resources.files("edgecls") / "recipes"))
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def recipe_names() -> list[str]:
    return list(_recipe_files())


def read_recipe(name: str) -> dict:
    """The recipe ``name`` (or a path to a .toml file) as a dict, documentation keys included."""
    path = Path(name) if name.endswith(".toml") else _recipe_files().get(name)
    if path is None:
        raise EdgeclsError(unknown_name("recipe", name, recipe_names()))
    try:
        recipe = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise EdgeclsError(f"{path}: no such recipe file") from None
    except tomllib.TOMLDecodeError as exc:
        raise EdgeclsError(f"{path}: not valid TOML ({exc})") from None
    recipe.setdefault("recipe", path.stem)
    return recipe


def recipe_settings(name: str) -> dict:
    """Only the TrainConfig settings of a recipe."""
    return {k: v for k, v in read_recipe(name).items() if k not in DOC_KEYS}
