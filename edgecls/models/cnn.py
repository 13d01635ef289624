"""Hand-made CNNs from the projects edgecls grew from.

Each docstring's first line gives the accuracy the seed project reached on CIFAR-10 and the optimizer it used
(Adam for all but cnn-rmsprop-dropout); training recipes live with the trainer, not here.
"""

from __future__ import annotations

import numpy as np

from edgecls._tf import keras
from edgecls.errors import EdgeclsError
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


# ITU-R BT.601 luma weights for R, G, B: the usual RGB-to-gray conversion (PIL's "L" mode uses them too).
BT601 = (0.299, 0.587, 0.114)


def _grayscale(x):
    """RGB to one luma channel as a fixed, non-trainable 1x1 convolution (a real layer, so it saves and converts)."""
    k = keras()
    if x.shape[-1] != 3:
        raise EdgeclsError(f"grayscale=True needs RGB input with 3 channels; received input shape {tuple(x.shape[1:])}")
    layer = k.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="grayscale")
    x = layer(x)
    layer.set_weights([np.array(BT601, dtype=np.float32).reshape(1, 1, 3, 1)])
    return x


@register_model("cnn-baseline")
def cnn_baseline(input_shape, num_classes, grayscale: bool = False):
    """Three Conv-ReLU-MaxPool blocks (32/64/128), Flatten, Dense 128: 0.660 in its seed (Adam, grayscale input).

    ``grayscale=True`` reproduces the seed, which converted images to gray: a fixed BT.601 layer inside the model
    turns RGB into one luma channel, so callers still pass RGB. The default keeps colour.
    """
    k = keras()
    inputs, x = pixel_input(input_shape)
    if grayscale:
        x = _grayscale(x)
    for i, filters in enumerate((32, 64, 128), start=1):
        x = k.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv")(x)
        x = k.layers.MaxPooling2D(name=f"block{i}_pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(128, activation="relu", name="head_dense")(x)
    return k.Model(inputs, classifier(x, num_classes), name="cnn-baseline")


@register_model("cnn-rmsprop-dropout")
def cnn_rmsprop_dropout(input_shape, num_classes):
    """Three Conv-ReLU-MaxPool-Dropout 0.25 blocks (64/128/256), Flatten, Dense 256: 0.680 in its seed (RMSprop).

    The seed left the head open: this uses Dense 256 ReLU then Dropout 0.5, the head of Keras' classic
    ``cifar10_cnn.py`` example that this seed follows (RMSprop, Dropout 0.25 after each block).
    """
    k = keras()
    inputs, x = pixel_input(input_shape)
    for i, filters in enumerate((64, 128, 256), start=1):
        x = k.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv")(x)
        x = k.layers.MaxPooling2D(name=f"block{i}_pool")(x)
        x = k.layers.Dropout(0.25, name=f"block{i}_dropout")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(256, activation="relu", name="head_dense")(x)
    x = k.layers.Dropout(0.5, name="head_dropout")(x)
    return k.Model(inputs, classifier(x, num_classes), name="cnn-rmsprop-dropout")


@register_model("cnn3-bn")
def cnn3_bn(input_shape, num_classes):
    """Three Conv-ReLU-BN-MaxPool blocks (32/64/128), Flatten, Dropout, Dense 256, Dropout: 0.806 in its seed (Adam).

    The flattened features are 4x4x128 = 2048 for 32x32 input. Batch norm follows the ReLU, as in the seed.
    """
    k = keras()
    inputs, x = pixel_input(input_shape)
    for i, filters in enumerate((32, 64, 128), start=1):
        x = k.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv")(x)
        x = k.layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = k.layers.MaxPooling2D(name=f"block{i}_pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dropout(0.5, name="head_dropout1")(x)
    x = k.layers.Dense(256, activation="relu", name="head_dense")(x)
    x = k.layers.Dropout(0.5, name="head_dropout2")(x)
    return k.Model(inputs, classifier(x, num_classes), name="cnn3-bn")


def _vgg6(input_shape, num_classes, batch_norm: bool, name: str):
    """Three VGG blocks of two 3x3 convs (64/128/256, with bias) and a max-pool, Flatten, Dense 256."""
    k = keras()
    inputs, x = pixel_input(input_shape)
    for i, filters in enumerate((64, 128, 256), start=1):
        for j in (1, 2):
            conv = f"block{i}_conv{j}"
            if batch_norm:  # conv, then BN, then ReLU; the conv keeps its bias, as the seed's did
                x = k.layers.Conv2D(filters, 3, padding="same", name=conv)(x)
                x = k.layers.BatchNormalization(name=f"block{i}_bn{j}")(x)
                x = k.layers.ReLU(name=f"block{i}_relu{j}")(x)
            else:
                x = k.layers.Conv2D(filters, 3, padding="same", activation="relu", name=conv)(x)
        x = k.layers.MaxPooling2D(name=f"block{i}_pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(256, activation="relu", name="head_dense")(x)
    if batch_norm:
        x = k.layers.Dropout(0.5, name="head_dropout")(x)
    return k.Model(inputs, classifier(x, num_classes), name=name)


@register_model("vgg6")
def vgg6(input_shape, num_classes):
    """VGG-style 6 convs (64,64/128,128/256,256), Flatten, Dense 256: 0.81 in its seed (Adam, 15 epochs, no aug.).

    2,196,810 parameters for 32x32x3 input and 10 classes, as in the seed.
    """
    return _vgg6(input_shape, num_classes, batch_norm=False, name="vgg6")


@register_model("vgg6-bn")
def vgg6_bn(input_shape, num_classes):
    """vgg6 with BatchNorm after every conv, Dropout 0.5 before the classifier: 0.91 in its seed (Adam, aug., 50 ep.).

    2,200,394 parameters (1,792 of them the non-trainable BN statistics) for 32x32x3 input and 10 classes.
    """
    return _vgg6(input_shape, num_classes, batch_norm=True, name="vgg6-bn")


@register_model("cnn-dropout-ramp")
def cnn_dropout_ramp(input_shape, num_classes):
    """Three Conv-BN-Conv-BN-MaxPool blocks (32/64/128), Dropout rising 0.2/0.3/0.4, Dense 128: 0.84 in its seed (Adam).

    Each conv is ReLU then BN (the seed's order); the seed left the head open, so it is Dense 128 ReLU, BN and
    Dropout 0.5, the widely used CIFAR-10 recipe this seed follows. Convs use He-uniform initialization like it.
    """
    k = keras()
    inputs, x = pixel_input(input_shape)
    for i, (filters, rate) in enumerate(((32, 0.2), (64, 0.3), (128, 0.4)), start=1):
        for j in (1, 2):
            x = k.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_uniform",
                                name=f"block{i}_conv{j}")(x)
            x = k.layers.BatchNormalization(name=f"block{i}_bn{j}")(x)
        x = k.layers.MaxPooling2D(name=f"block{i}_pool")(x)
        x = k.layers.Dropout(rate, name=f"block{i}_dropout")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(128, activation="relu", kernel_initializer="he_uniform", name="head_dense")(x)
    x = k.layers.BatchNormalization(name="head_bn")(x)
    x = k.layers.Dropout(0.5, name="head_dropout")(x)
    return k.Model(inputs, classifier(x, num_classes), name="cnn-dropout-ramp")
