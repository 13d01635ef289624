"""The model that ships inside the package, used when no --model is given."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from edgecls.errors import EdgeclsError

DEFAULT_MODEL = "default.tflite"


def default_model_path() -> Path:
    path = Path(str(resources.files("edgecls") / "assets" / DEFAULT_MODEL))
    if not path.is_file():
        raise EdgeclsError(f"the bundled model {path} is missing; reinstall edgecls or pass --model")
    return path
