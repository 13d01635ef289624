"""Checks a builder's options and a model must pass before edgecls builds, saves or converts it."""

from __future__ import annotations

from edgecls.errors import EdgeclsError


def choose(name: str, option: str, value, choices: tuple) -> None:
    """A one-line error unless the builder option ``option`` of model ``name`` is one of ``choices``."""
    if value not in choices:
        raise EdgeclsError(f"{name}: {option} must be one of {', '.join(choices)}; received {option}={value!r}")


def walk_layers(model):
    """Every layer of ``model``, nested models' layers included, outermost first."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from walk_layers(layer)


def refuse_lambda(model, where: str = "model") -> None:
    """Lambda layers serialize Python bytecode: unportable across versions and refused by safe_mode loading."""
    for layer in walk_layers(model):
        if type(layer).__name__ == "Lambda":
            raise EdgeclsError(
                f"{where}: layer {layer.name!r} is a Lambda layer, which edgecls refuses (it stores Python bytecode "
                "that breaks loading across Keras versions and is unsafe); replace it with a built-in layer "
                "such as Rescaling, Resizing or Normalization, or a registered Layer subclass")


def load_model(path, compile: bool = False):
    """Load a .keras model with ``safe_mode=True``; a Lambda layer or an unreadable file is one clear error."""
    import zipfile
    from pathlib import Path

    from edgecls._tf import keras

    path = Path(path)
    if not path.is_file():
        raise EdgeclsError(f"{path}: no such model file")
    try:
        model = None if compile else _load_from_extracted_weights(path)
        if model is None:
            model = keras().models.load_model(path, safe_mode=True, compile=compile)
    except ValueError as exc:
        text = str(exc)
        if "lambda" in text.lower():
            raise EdgeclsError(
                f"{path}: holds a Lambda layer, which edgecls refuses (it stores Python bytecode that breaks loading "
                "across Keras versions and is unsafe); rebuild the model with built-in layers such as Rescaling, "
                "Resizing or Normalization") from None
        raise EdgeclsError(f"{path}: cannot load the Keras model ({text.strip().splitlines()[0]})") from None
    except (OSError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise EdgeclsError(f"{path}: cannot load the Keras model ({exc})") from None
    refuse_lambda(model, str(path))
    return model


def _load_from_extracted_weights(path):
    """Load an uncompiled model with its weights read from a real file instead of from inside the zip.

    tf_keras reads ``model.weights.h5`` through ``ZipFile.open``; on Python 3.11 every backward seek there re-reads
    the member from its start, so reloading a ResNet50 took about 40 s on two busy cores. From the extracted member
    the whole load, building the model included, took 5 s there.
    The config is deserialized with ``safe_mode=True`` exactly as ``load_model`` does. Returns None for archives
    this shortcut does not cover (assets, .npz weights), which then take the standard path.
    """
    import json
    import tempfile
    import zipfile

    from edgecls._tf import keras

    k = keras()
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if names - {"config.json", "metadata.json", "model.weights.h5"} or "model.weights.h5" not in names:
            return None
        config = json.loads(archive.read("config.json"))
        config["compile_config"] = None
        model = k.saving.deserialize_keras_object(config, safe_mode=True)
        with tempfile.TemporaryDirectory(prefix="edgecls-load-") as tmp:
            weights = archive.extract("model.weights.h5", tmp)
            model.load_weights(weights)
    return model


def save_model(model, path) -> None:
    """Save as .keras through a temp file and a rename, refusing Lambda layers first."""
    from edgecls.fileio import atomic_path

    refuse_lambda(model, str(path))
    with atomic_path(path) as tmp:
        model.save(tmp)
