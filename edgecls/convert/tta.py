"""Test-time augmentation inside the exported graph.

``flip``: the exported model classifies the image and its mirror image with the same weights and averages
the two probability vectors. Every client of the .tflite file (edgecls, MediaPipe, a Pi) gets the averaged
answer from one ``invoke()``, so the accuracy the converter measures is the accuracy a user gets; the cost is
twice the compute, which ``edgecls bench`` shows. A CIFAR-10 model trained with random horizontal flips has
no preferred side, so the two views are equally valid inputs.
"""

from __future__ import annotations

import functools

from edgecls._tf import keras, tf
from edgecls.errors import EdgeclsError
from edgecls.registry import unknown_name

TTAS = ("none", "flip")


@functools.cache
def _flip_layer():
    k = keras()

    @k.utils.register_keras_serializable(package="edgecls")
    class HorizontalFlip(k.layers.Layer):
        """Mirror an NHWC batch left to right (TFLite REVERSE_V2 on the width axis)."""

        def call(self, inputs):
            return tf().reverse(inputs, axis=[2])

    return HorizontalFlip


def horizontal_flip(name: str = "mirror"):
    return _flip_layer()(name=name)


def with_tta(model, tta: str):
    """``model`` itself for ``none``; for ``flip`` a model with the same input whose output is the mean of
    ``model(x)`` and ``model(mirror(x))``, the weights shared."""
    if tta == "none":
        return model
    if tta not in TTAS:
        raise EdgeclsError(unknown_name("test-time augmentation", tta, list(TTAS)))
    if len(model.inputs) != 1 or len(model.input_shape) != 4:
        raise EdgeclsError(f"{model.name}: flip test-time augmentation needs one image input (N, H, W, C)")
    k = keras()
    inputs = k.Input(model.input_shape[1:], name=model.input_names[0])
    outputs = k.layers.Average(name="flip_average")([model(inputs), model(horizontal_flip()(inputs))])
    return k.Model(inputs, outputs, name=model.name)
