"""Test-time augmentation inside the exported graph.

``flip``: the exported model classifies the image and its mirror image with the same weights and averages
the two probability vectors. Every client of the .tflite file (edgecls, MediaPipe, a Pi) gets the averaged
answer from one ``invoke()``, so the accuracy the converter measures is the accuracy a user gets; the cost is
twice the compute, which ``edgecls bench`` shows. A CIFAR-10 model trained with random horizontal flips has
no preferred side, so the two views are equally valid inputs.

``flip-shift``: six views, as in airbench's test-time augmentation: the image, it shifted one pixel down-right
and one pixel up-left (borders reflected), and the mirror images of all three. The answer weighs the unshifted
pair half and the four shifted views the other half. Six times the compute of the plain model.
"""

from __future__ import annotations

import functools

from edgecls._tf import keras, tf
from edgecls.errors import EdgeclsError
from edgecls.registry import unknown_name

TTAS = ("none", "flip", "flip-shift")
SHIFT_WEIGHTS = (0.25, 0.125, 0.125)  # per view before mirroring: unshifted, down-right, up-left (twice each)


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

    @k.utils.register_keras_serializable(package="edgecls")
    class WithShifts(k.layers.Layer):
        """An NHWC batch, then it shifted one pixel down-right, then one pixel up-left, borders reflected:
        N images in, 3N out (MIRROR_PAD, STRIDED_SLICE, CONCATENATION)."""

        def call(self, inputs):
            height, width = inputs.shape[1], inputs.shape[2]
            padded = tf().pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
            return tf().concat([inputs, padded[:, :height, :width], padded[:, 2:, 2:]], axis=0)

    @k.utils.register_keras_serializable(package="edgecls")
    class WeightedViews(k.layers.Layer):
        """The weighted sum of equal consecutive parts of a batch: len(weights) * N rows in, N out."""

        def __init__(self, weights, **kwargs):
            super().__init__(**kwargs)
            self.view_weights = [float(w) for w in weights]

        def call(self, inputs):
            parts = tf().split(inputs, len(self.view_weights), axis=0)
            return tf().add_n([part * w for part, w in zip(parts, self.view_weights)])

        def get_config(self):
            return {**super().get_config(), "weights": self.view_weights}

    return WithMirror, MeanOfHalves, WithShifts, WeightedViews


def with_tta(model, tta: str):
    """``model`` itself for ``none``; for ``flip`` a model with the same input whose output is the mean of
    ``model(x)`` and ``model(mirror(x))``; for ``flip-shift`` the weighted mean over six views (module doc).
    All views go through the model as one batch, so each weight is read once and the runtime's batched kernels
    do the work."""
    if tta == "none":
        return model
    if tta not in TTAS:
        raise EdgeclsError(unknown_name("test-time augmentation", tta, list(TTAS)))
    if len(model.inputs) != 1 or len(model.input_shape) != 4:
        raise EdgeclsError(f"{model.name}: {tta} test-time augmentation needs one image input (N, H, W, C)")
    k = keras()
    with_mirror, mean_of_halves, with_shifts, weighted_views = _layers()
    inputs = k.Input(model.input_shape[1:], name=model.input_names[0])
    if tta == "flip":
        outputs = mean_of_halves(name="flip_average")(model(with_mirror(name="with_mirror")(inputs)))
        return k.Model(inputs, outputs, name=model.name)
    if None in model.input_shape[1:3]:
        raise EdgeclsError(f"{model.name}: flip-shift test-time augmentation needs a fixed image size")
    views = with_mirror(name="with_mirror")(with_shifts(name="with_shifts")(inputs))
    outputs = weighted_views(SHIFT_WEIGHTS * 2, name="view_average")(model(views))
    return k.Model(inputs, outputs, name=model.name)
