"""The model registry: ``@register_model`` fills it at import, ``create_model`` is the only lookup."""

from __future__ import annotations

import dataclasses
from typing import Callable

from edgecls.registry import Registry


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str                      # "custom" | "transfer"
    build: Callable[..., object]   # (input_shape, num_classes, **options) -> keras.Model
    summary: str
    # (model, sample of 0..255 training images) -> None: weights set from the data before training, if any
    fit_to_data: Callable[..., None] | None = None


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, kind: str = "custom", fit_to_data: Callable[..., None] | None = None):
    """Register ``build(input_shape, num_classes, **options) -> keras.Model`` under ``name``; ``fit_to_data``
    (model, training images) sets data-dependent weights once, before a new model trains."""

    def add(build):
        doc = (build.__doc__ or "").strip().splitlines()
        MODELS.register(name)(ModelEntry(name, kind, build, doc[0] if doc else "", fit_to_data))
        return build

    return add


def create_model(name: str, input_shape=(32, 32, 3), num_classes: int = 10, **options):
    """Build the registered model ``name``; its input takes 0..255 pixels and its output is probabilities."""
    _load_builtin()
    return MODELS.get(name).build(tuple(input_shape), num_classes, **options)


def list_models(pattern: str = "*") -> list[ModelEntry]:
    _load_builtin()
    return [MODELS.get(n) for n in MODELS.names(pattern)]


def _load_builtin() -> None:
    # Importing the modules runs their @register_model decorators.
    from edgecls.models import airnet, cnn, efficientnet_lite, resnet, transfer  # noqa: F401
