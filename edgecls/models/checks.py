"""Checks a model must pass before edgecls saves or converts it."""

from __future__ import annotations

from edgecls.errors import EdgeclsError


def _walk(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _walk(layer)


def refuse_lambda(model, where: str = "model") -> None:
    """Lambda layers serialize Python bytecode: unportable across versions and refused by safe_mode loading."""
    for layer in _walk(model):
        if type(layer).__name__ == "Lambda":
            raise EdgeclsError(
                f"{where}: layer {layer.name!r} is a Lambda layer, which edgecls refuses (it stores Python bytecode "
                "that breaks loading across Keras versions and is unsafe); replace it with a built-in layer "
                "such as Rescaling, Resizing or Normalization, or a registered Layer subclass")


def load_model(path, compile: bool = False):
    """Load a .keras model with ``safe_mode=True``; a Lambda layer or an unreadable file is one clear error."""
    from pathlib import Path

    from edgecls._tf import keras

    path = Path(path)
    if not path.is_file():
        raise EdgeclsError(f"{path}: no such model file")
    try:
        model = keras().models.load_model(path, safe_mode=True, compile=compile)
    except ValueError as exc:
        text = str(exc)
        if "lambda" in text.lower():
            raise EdgeclsError(
                f"{path}: holds a Lambda layer, which edgecls refuses (it stores Python bytecode that breaks loading "
                "across Keras versions and is unsafe); rebuild the model with built-in layers such as Rescaling, "
                "Resizing or Normalization") from None
        raise EdgeclsError(f"{path}: cannot load the Keras model ({text.strip().splitlines()[0]})") from None
    except (OSError, KeyError, TypeError) as exc:
        raise EdgeclsError(f"{path}: cannot load the Keras model ({exc})") from None
    refuse_lambda(model, str(path))
    return model


def save_model(model, path) -> None:
    """Save as .keras through a temp file and a rename, refusing Lambda layers first."""
    from edgecls.fileio import atomic_path

    refuse_lambda(model, str(path))
    with atomic_path(path) as tmp:
        model.save(tmp)
