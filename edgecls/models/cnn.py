"""Hand-made CNNs from the projects edgecls grew from."""

from __future__ import annotations

from edgecls._tf import keras
from edgecls.models.layers import classifier, conv_bn_relu, pixel_input
from edgecls.models.registry import register_model


@register_model("cnn4-gap-l2")
def cnn4_gap_l2(input_shape, num_classes, l2: float = 1e-4):
    """Four Conv-BN-ReLU-MaxPool blocks (32/64/128/256, L2), GAP, Dropout, Dense 256: 0.857 on CIFAR-10 in the seeds.

    The seed left the L2 factor open; 1e-4 on every kernel is the usual choice for a net this size.
    """
    k = keras()
    inputs, x = pixel_input(input_shape)
    reg = k.regularizers.l2(l2)
    for i, filters in enumerate((32, 64, 128, 256), start=1):
        x = conv_bn_relu(x, filters, f"block{i}", l2=l2)
        x = k.layers.MaxPooling2D(name=f"block{i}_pool")(x)
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    x = k.layers.Dropout(0.5, name="head_dropout1")(x)
    x = k.layers.Dense(256, activation="relu", kernel_regularizer=reg, name="head_dense")(x)
    x = k.layers.Dropout(0.5, name="head_dropout2")(x)
    return k.Model(inputs, classifier(x, num_classes), name="cnn4-gap-l2")


@register_model("tiny-test")
def tiny_test(input_shape, num_classes):
    """A few hundred parameters for tests and smoke runs: one conv, GAP, softmax."""
    k = keras()
    inputs, x = pixel_input(input_shape)
    x = conv_bn_relu(x, 8, "conv1")
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    return k.Model(inputs, classifier(x, num_classes), name="tiny-test")
