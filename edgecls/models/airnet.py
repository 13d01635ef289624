"""Plain three-block CNNs after the net of Keller Jordan's airbench (94% on CIFAR-10 in about 10 GPU epochs).

Layout: a 3x3 stem, then three blocks of conv -> max-pool -> BN -> ReLU -> conv -> BN -> ReLU, global max-pool,
a linear classifier. Pooling before batch norm keeps the norm and the second conv at the lower resolution, and
most of the width sits at 8x8 and below, so a CIFAR-10 image costs about a third of the full ResNet-9's
multiply-adds. In ``airnet`` the stem is an ordinary trained conv; ``airnet-w`` takes more of airbench: a frozen
2x2 patch-whitening stem set from the training images (edgecls/models/whitening.py), identity-initialized convs,
batch norms without a gain, and logits divided by 9. Both use ReLU; ``airnet-w`` takes airbench's GELU with
``activation=gelu`` (int8 TFLite runs it as one GELU op). Lookahead, airbench's weight averaging, is a training
setting (``lookahead = true``).
"""

from __future__ import annotations

from edgecls._tf import keras
from edgecls.errors import EdgeclsError
from edgecls.models.checks import choose
from edgecls.models.layers import act, bn_relu, classifier, conv_bn_relu, pixel_input
from edgecls.models.registry import register_model
from edgecls.models.whitening import WHITEN_LAYER, dirac, fit_whitening

BN_MOMENTUM = 0.9
WHITEN_SIZE = 2          # airbench's 2x2 patches: 12 whitened directions, 24 channels with their negatives
LOGIT_TEMPERATURE = 9.0  # airbench scales its logits by 1/9
ACTIVATIONS = ("relu", "gelu")


def _block(x, filters: int, name: str, scale: bool = True, activation: str = "relu", momentum: float = BN_MOMENTUM,
           epsilon: float = 1e-3):
    k = keras()
    x = k.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_a_conv")(x)
    x = k.layers.MaxPooling2D(name=f"{name}_pool")(x)
    x = bn_relu(x, f"{name}_a", momentum, scale, activation, epsilon)
    return conv_bn_relu(x, filters, f"{name}_b", momentum=momentum, scale=scale, activation=activation,
                        epsilon=epsilon)


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


def airnet_whitened(input_shape, num_classes, widths=(64, 256, 256), name: str = "airnet-w",
                    activation: str = "relu", bn_momentum: float = BN_MOMENTUM, bn_epsilon: float = 1e-3):
    """The whitened stem's weights are placeholders until ``fit_whitening`` sets them from the training images
    (the trainer does, through the registry's ``fit_to_data``); the stem never trains."""
    choose(name, "activation", activation, ACTIVATIONS)
    k = keras()
    inputs, x = pixel_input(input_shape)
    channels = 2 * WHITEN_SIZE * WHITEN_SIZE * input_shape[-1]
    whiten = k.layers.Conv2D(channels, WHITEN_SIZE, padding="valid", name=WHITEN_LAYER, trainable=False)
    x = act(whiten(x), f"whiten_{activation}", activation)
    for i, filters in enumerate(widths, start=1):
        x = _block(x, filters, f"block{i}", scale=False, activation=activation, momentum=bn_momentum,
                   epsilon=bn_epsilon)
    x = k.layers.GlobalMaxPooling2D(name="gmp")(x)
    model = k.Model(inputs, classifier(x, num_classes, use_bias=False, temperature=LOGIT_TEMPERATURE), name=name)
    for layer in model.layers:
        if isinstance(layer, k.layers.Conv2D) and layer is not whiten:
            layer.kernel.assign(dirac(layer.kernel.numpy()))
    return model


@register_model("airnet-w", fit_to_data=fit_whitening)
def airnet_w(input_shape, num_classes, activation: str = "relu", widths=(64, 256, 256),
             bn_momentum: float = BN_MOMENTUM, bn_epsilon: float = 1e-3):
    """airnet (64/256/256) with airbench's frozen 2x2 whitening stem, identity-initialized convs, gain-free batch
    norms and logits / 9; ``activation=gelu`` for airbench's GELU, ``widths=[96,320,320]`` for wider blocks,
    ``bn_momentum`` / ``bn_epsilon`` for the norms (Keras terms; airbench's are 0.6 and 1e-12)."""
    if (not isinstance(widths, (list, tuple)) or len(widths) != 3
            or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths)):
        raise EdgeclsError(f"airnet-w: widths must be three positive whole numbers, e.g. [64,256,256]; "
                           f"received widths={widths!r}")
    if not isinstance(bn_momentum, (int, float)) or not 0.0 <= bn_momentum < 1.0:
        raise EdgeclsError(f"airnet-w: bn_momentum must be a number in [0, 1); received {bn_momentum!r}")
    if not isinstance(bn_epsilon, (int, float)) or not bn_epsilon > 0.0:
        raise EdgeclsError(f"airnet-w: bn_epsilon must be a positive number; received {bn_epsilon!r}")
    return airnet_whitened(input_shape, num_classes, tuple(widths), activation=activation,
                           bn_momentum=float(bn_momentum), bn_epsilon=float(bn_epsilon))


@register_model("airnet-l")
def airnet_large(input_shape, num_classes):
    """Three conv-pool-BN blocks (128/384/384) after airbench95: about 310M multiply-adds per CIFAR-10 image."""
    return airnet(input_shape, num_classes, (32, 128, 384, 384), "airnet-l")
