"""Building blocks shared by the model builders (real Keras layers only, never Lambda)."""

from __future__ import annotations

from edgecls._tf import keras


def pixel_input(input_shape, name: str = "pixels"):
    """The model input: float 0..255 RGB pixels, scaled to 0..1 by a Rescaling layer inside the model."""
    k = keras()
    inputs = k.Input(shape=input_shape, name=name)
    return inputs, k.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)


def conv_bn_relu(x, filters: int, name: str, l2: float = 0.0, momentum: float = 0.99, kernel: int = 3,
                 scale: bool = True, activation: str = "relu", epsilon: float = 1e-3):
    k = keras()
    reg = k.regularizers.l2(l2) if l2 else None
    x = k.layers.Conv2D(filters, kernel, padding="same", use_bias=False, kernel_regularizer=reg,
                        name=f"{name}_conv")(x)
    return bn_relu(x, name, momentum, scale, activation, epsilon)


def bn_relu(x, name: str, momentum: float = 0.99, scale: bool = True, activation: str = "relu",
            epsilon: float = 1e-3):
    """Batch norm then ReLU (or ``activation``, a Keras activation name); ``scale=False`` drops the norm's learned
    gain (ReLU only needs the offset)."""
    k = keras()
    x = k.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, scale=scale, name=f"{name}_bn")(x)
    return act(x, f"{name}_{activation}", activation)


def act(x, name: str, activation: str = "relu"):
    """ReLU as its own layer, any other activation (e.g. ``gelu``, which int8 TFLite also runs as one op) through
    ``Activation``."""
    k = keras()
    if activation == "relu":
        return k.layers.ReLU(name=name)(x)
    return k.layers.Activation(activation, name=name)(x)


def classifier(x, num_classes: int, name: str = "logits", use_bias: bool = True, temperature: float = 1.0):
    """Dense logits (divided by ``temperature`` in a Rescaling layer when it is not 1), then the softmax."""
    k = keras()
    x = k.layers.Dense(num_classes, use_bias=use_bias, name=name)(x)
    if temperature != 1.0:
        x = k.layers.Rescaling(1.0 / temperature, name=f"{name}_scale")(x)
    # float32 even under mixed precision, so probabilities are exact and the graph exports cleanly.
    return k.layers.Softmax(name="probabilities", dtype="float32")(x)
