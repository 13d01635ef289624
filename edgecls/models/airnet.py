"""Plain three-block CNNs after the net of Keller Jordan's airbench (94% on CIFAR-10 in about 10 GPU epochs).

Layout: a 3x3 stem, then three blocks of conv -> max-pool -> BN -> ReLU -> conv -> BN -> ReLU, global max-pool,
a linear classifier. Pooling before batch norm keeps the norm and the second conv at the lower resolution, and
most of the width sits at 8x8 and below, so a CIFAR-10 image costs about a third of the full ResNet-9's
multiply-adds. airbench's other tricks (a frozen patch-whitening first layer, Lookahead, GELU) are left out: the
stem is an ordinary trained conv and the activations are ReLU, which int8 TFLite runs natively.
"""

from __future__ import annotations

from edgecls._tf import keras
from edgecls.models.layers import bn_relu, classifier, conv_bn_relu, pixel_input
from edgecls.models.registry import register_model

BN_MOMENTUM = 0.9


def _block(x, filters: int, name: str):
    k = keras()
    x = k.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_a_conv")(x)
    x = k.layers.MaxPooling2D(name=f"{name}_pool")(x)
    x = bn_relu(x, f"{name}_a", BN_MOMENTUM)
    return conv_bn_relu(x, filters, f"{name}_b", momentum=BN_MOMENTUM)


def airnet(input_shape, num_classes, widths=(32, 64, 256, 256), name: str = "airnet"):
    k = keras()
    inputs, x = pixel_input(input_shape)
    x = conv_bn_relu(x, widths[0], "stem", momentum=BN_MOMENTUM)
    for i, filters in enumerate(widths[1:], start=1):
        x = _block(x, filters, f"block{i}")
    x = k.layers.GlobalMaxPooling2D(name="gmp")(x)
    return k.Model(inputs, classifier(x, num_classes), name=name)


@register_model("airnet")
def airnet_base(input_shape, num_classes):
    """Three conv-pool-BN blocks (64/256/256) after airbench94: about 150M multiply-adds per CIFAR-10 image."""
    return airnet(input_shape, num_classes, (32, 64, 256, 256), "airnet")


@register_model("airnet-l")
def airnet_large(input_shape, num_classes):
    """Three conv-pool-BN blocks (128/384/384) after airbench95: about 310M multiply-adds per CIFAR-10 image."""
    return airnet(input_shape, num_classes, (32, 128, 384, 384), "airnet-l")
