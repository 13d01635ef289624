"""Compact residual nets for small images, after the ResNet-9 of the DAWNBench CIFAR-10 entries.

Layout: prep conv, then three stages (conv + max-pool, a residual pair of convs after stages 1 and 3),
global max-pool, a linear classifier. It trains fast on a CPU because most of its work happens at 16x16
and below; the width multiplier trades accuracy for latency.
"""

from __future__ import annotations

from edgecls._tf import keras
from edgecls.models.layers import classifier, conv_bn_relu, pixel_input
from edgecls.models.registry import register_model

# Batch-norm statistics move faster than Keras' default (0.99) so that short schedules end with good estimates.
BN_MOMENTUM = 0.9


def _residual(x, filters: int, name: str):
    k = keras()
    y = conv_bn_relu(x, filters, f"{name}_a", momentum=BN_MOMENTUM)
    y = conv_bn_relu(y, filters, f"{name}_b", momentum=BN_MOMENTUM)
    return k.layers.Add(name=f"{name}_add")([x, y])


def resnet9(input_shape, num_classes, width: float = 1.0, name: str = "resnet9"):
    k = keras()
    c = [max(8, int(round(f * width))) for f in (64, 128, 256, 512)]
    inputs, x = pixel_input(input_shape)
    x = conv_bn_relu(x, c[0], "prep", momentum=BN_MOMENTUM)
    x = conv_bn_relu(x, c[1], "stage1", momentum=BN_MOMENTUM)
    x = k.layers.MaxPooling2D(name="stage1_pool")(x)
    x = _residual(x, c[1], "stage1_res")
    x = conv_bn_relu(x, c[2], "stage2", momentum=BN_MOMENTUM)
    x = k.layers.MaxPooling2D(name="stage2_pool")(x)
    x = conv_bn_relu(x, c[3], "stage3", momentum=BN_MOMENTUM)
    x = k.layers.MaxPooling2D(name="stage3_pool")(x)
    x = _residual(x, c[3], "stage3_res")
    x = k.layers.GlobalMaxPooling2D(name="gmp")(x)
    return k.Model(inputs, classifier(x, num_classes), name=name)


@register_model("resnet9")
def resnet9_full(input_shape, num_classes):
    """ResNet-9 at full width (64/128/256/512): 94% on CIFAR-10 in 24 epochs on a GPU (DAWNBench)."""
    return resnet9(input_shape, num_classes, 1.0, "resnet9")


@register_model("resnet9-s")
def resnet9_s(input_shape, num_classes):
    """ResNet-9 at half width (32/64/128/256): a quarter of the compute."""
    return resnet9(input_shape, num_classes, 0.5, "resnet9-s")


@register_model("resnet9-xs")
def resnet9_xs(input_shape, num_classes):
    """ResNet-9 at quarter width (16/32/64/128): about a minute an epoch of CIFAR-10 on two CPU cores."""
    return resnet9(input_shape, num_classes, 0.25, "resnet9-xs")

