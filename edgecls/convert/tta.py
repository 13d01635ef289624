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
def _layers():
    k = keras()

    @k.utils.register_keras_serializable(package="edgecls")
    class WithMirror(k.layers.Layer):
        """An NHWC batch followed by its left-right mirror image: N images in, 2N out (REVERSE_V2, CONCATENATION)."""

        def call(self, inputs):
            return tf().concat([inputs, tf().reverse(inputs, axis=[2])], axis=0)

    @k.utils.register_keras_serializable(package="edgecls")
    class MeanOfHalves(k.layers.Layer):
        """The mean of the first and the second half of a batch: 2N rows in, N out."""

        def call(self, inputs):
            # a static two-way split (SPLIT, ADD, MUL) keeps shape arithmetic out of the exported graph
            first, second = tf().split(inputs, 2, axis=0)
            return (first + second) * 0.5

    return WithMirror, MeanOfHalves


def with_tta(model, tta: str):
    """``model`` itself for ``none``; for ``flip`` a model with the same input whose output is the mean of
    ``model(x)`` and ``model(mirror(x))``. Both views go through the model as one batch of two, so each
    weight is read once and the runtime's batched kernels do the work."""
    if tta == "none":
        return model
    if tta not in TTAS:
        raise EdgeclsError(unknown_name("test-time augmentation", tta, list(TTAS)))
    if len(model.inputs) != 1 or len(model.input_shape) != 4:
        raise EdgeclsError(f"{model.name}: flip test-time augmentation needs one image input (N, H, W, C)")
    k = keras()
    with_mirror, mean_of_halves = _layers()
    inputs = k.Input(model.input_shape[1:], name=model.input_names[0])
    outputs = mean_of_halves(name="flip_average")(model(with_mirror(name="with_mirror")(inputs)))
    return k.Model(inputs, outputs, name=model.name)
