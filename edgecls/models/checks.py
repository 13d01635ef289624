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
