"""Building blocks shared by the model builders (real Keras layers only, never Lambda)."""

from __future__ import annotations

import functools

from edgecls._tf import keras, tf


def pixel_input(input_shape, name: str = "pixels"):
    """The model input: float 0..255 RGB pixels, scaled to 0..1 by a Rescaling layer inside the model."""
    k = keras()
    inputs = k.Input(shape=input_shape, name=name)
    return inputs, k.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)


def conv_bn_relu(x, filters: int, name: str, l2: float = 0.0, momentum: float = 0.99, kernel: int = 3,
                 scale: bool = True, bias_scale: float = 1.0):
    k = keras()
    reg = k.regularizers.l2(l2) if l2 else None
    x = k.layers.Conv2D(filters, kernel, padding="same", use_bias=False, kernel_regularizer=reg,
                        name=f"{name}_conv")(x)
    return bn_relu(x, name, momentum, scale, bias_scale)


def bn_relu(x, name: str, momentum: float = 0.99, scale: bool = True, bias_scale: float = 1.0):
    """Batch norm then ReLU; ``scale=False`` drops the norm's learned gain (ReLU only needs the offset).
    ``bias_scale`` s != 1 moves the norm's offset into a ``ScaledBias`` layer (offset = s * trained value), so
    under SGD the offsets learn s**2 times as fast as the convs (airbench's 64x for its batch-norm biases is s = 8)."""
    k = keras()
    center = bias_scale == 1.0
    x = k.layers.BatchNormalization(momentum=momentum, scale=scale, center=center, name=f"{name}_bn")(x)
    if not center:
        x = scaled_bias_layer()(bias_scale, name=f"{name}_bias")(x)
    return k.layers.ReLU(name=f"{name}_relu")(x)


@functools.cache
def scaled_bias_layer():
    """The ``ScaledBias`` layer class, registered for safe-mode loading (built on first use: no TensorFlow at
    import)."""
    k = keras()

    @k.utils.register_keras_serializable(package="edgecls")
    class ScaledBias(k.layers.Layer):
        """Adds ``scale * b`` per channel, ``b`` trained from zero: a bias whose gradient step is ``scale**2`` times
        that of a plain one. In the exported graph it is one ADD of a constant, which the converter folds."""

        def __init__(self, scale: float, **kwargs):
            super().__init__(**kwargs)
            self.scale = float(scale)

        def build(self, input_shape):
            self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros", trainable=True)
            super().build(input_shape)

        def call(self, inputs):
            return inputs + tf().cast(self.bias * self.scale, inputs.dtype)

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    return ScaledBias


def classifier(x, num_classes: int, name: str = "logits", use_bias: bool = True, temperature: float = 1.0):
    """Dense logits (divided by ``temperature`` in a Rescaling layer when it is not 1), then the softmax."""
    k = keras()
    x = k.layers.Dense(num_classes, use_bias=use_bias, name=name)(x)
    if temperature != 1.0:
        x = k.layers.Rescaling(1.0 / temperature, name=f"{name}_scale")(x)
    # float32 even under mixed precision, so probabilities are exact and the graph exports cleanly.
    return k.layers.Softmax(name="probabilities", dtype="float32")(x)
