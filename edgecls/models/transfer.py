"""Transfer models: a keras.applications base with its own preprocessing as layers, and a seed head.

Every model is ``pixels`` (0..255 RGB) -> ``resize`` (Resizing to ``base_size``, left out when the input already has
that size) -> the base's ``preprocess_input`` as real layers -> ``base`` (called with ``training=False``, so its
BatchNormalization layers stay in inference mode even once unfrozen) -> ``head_*`` -> ``logits`` -> ``probabilities``.

The builders return the base frozen: phase 1 of two-phase fine-tuning trains the head alone. For phase 2 call
``unfreeze(model, ...)`` and compile again with a small learning rate.

Options shared by every transfer model (``create_model(name, ..., **options)``):

- ``weights``: ``"imagenet"`` (keras downloads the file once into ``~/.keras/models``; offline, only MobileNetV2 works,
  after ``shared/weights/install-keras-cache``), ``"none"``, or the path of a local ``.h5`` file saved from the same
  ``keras.applications`` base with ``include_top=False``.
- ``head``: ``"conv"``, ``"dense"`` or ``"linear"`` (see ``HEADS``); ``activation``: ``"relu"`` or ``"tanh"`` for it.
- ``base_size``: the square size the base sees (default 96; Xception needs at least 71).
- ``dropout``: the head's dropout rates, one per Dropout layer (default: those of the seed heads).
- ``alpha`` (MobileNetV2 only): the width multiplier.
- ``train_batchnorm``: ``False`` (default) keeps the base's BatchNormalization in inference mode for good, which is
  what pretrained statistics need. ``True`` lets it learn once unfrozen (batch statistics, moving averages updated):
  for a base with ``weights="none"`` trained from scratch, which has no statistics worth keeping.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from pathlib import Path
from typing import Callable

import numpy as np

from edgecls._tf import keras
from edgecls.errors import EdgeclsError
from edgecls.models.checks import choose
from edgecls.models.layers import classifier
from edgecls.models.registry import register_model

ACTIVATIONS = ("relu", "tanh")
# The seed heads' dropout rates, in layer order.
DROPOUT = {"conv": (0.3, 0.4), "dense": (0.5, 0.3), "linear": ()}
WEIGHTS = ("imagenet", "none")
# keras imagenet_utils "caffe" mode: the ImageNet channel means, in BGR order.
CAFFE_BGR_MEANS = (103.939, 116.779, 123.68)
# keras efficientnet.IMAGENET_STDDEV_RGB.
EFFICIENTNET_STDDEV = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class Base:
    """One keras.applications backbone and what its ``preprocess_input`` does."""

    application: str       # the constructor in keras.applications
    preprocess: str        # "tf": to [-1, 1]; "caffe": RGB->BGR minus the ImageNet means; "none": done inside the base
    min_size: int = 32
    default_size: int = 96
    build: Callable | None = None  # an edgecls builder with keras.applications' signature, used in its place


BASES = {
    "mobilenetv2": Base("MobileNetV2", "tf"),
    "efficientnetb0": Base("EfficientNetB0", "none"),
    "vgg16": Base("VGG16", "caffe"),
    "resnet50": Base("ResNet50", "caffe"),
    "xception": Base("Xception", "tf", min_size=71),
}


@register_model("mobilenetv2", kind="transfer")
def mobilenetv2(input_shape, num_classes, alpha: float = 1.0, **options):
    """MobileNetV2 (ImageNet) + dense head: 0.937 on Animals-10 in the seeds.

    ``alpha`` 0.35 and 1.0 ImageNet weights ship in ``shared/weights`` (``install-keras-cache`` makes
    ``weights="imagenet"`` work offline for 96..224 inputs).
    """
    return build_transfer("mobilenetv2", input_shape, num_classes, alpha=alpha, **options)


@register_model("efficientnetb0", kind="transfer")
def efficientnetb0(input_shape, num_classes, **options):
    """EfficientNetB0 (ImageNet) + conv head: 0.920 (tanh) / 0.916 (relu) on CIFAR-10 in the seeds.

    The base rescales and normalizes 0..255 pixels itself. Its ImageNet weights must be downloaded by keras
    (they are not available offline here); keras then also adds a TFOpLambda ``multiply`` after its Normalization
    layer, which a base built with ``weights="none"`` or a local ``.h5`` lacks (see ``_match_keras_imagenet_stem``).
    """
    return build_transfer("efficientnetb0", input_shape, num_classes, **options)


@register_model("vgg16", kind="transfer")
def vgg16(input_shape, num_classes, **options):
    """VGG16 (ImageNet) with caffe preprocessing (RGB->BGR, minus the ImageNet means) as a frozen 1x1 conv."""
    return build_transfer("vgg16", input_shape, num_classes, **options)


@register_model("resnet50", kind="transfer")
def resnet50(input_shape, num_classes, **options):
    """ResNet50 (ImageNet) with caffe preprocessing (RGB->BGR, minus the ImageNet means) as a frozen 1x1 conv."""
    return build_transfer("resnet50", input_shape, num_classes, **options)


@register_model("xception", kind="transfer")
def xception(input_shape, num_classes, **options):
    """Xception (ImageNet), inputs scaled to [-1, 1]; its base needs at least 71x71."""
    return build_transfer("xception", input_shape, num_classes, **options)


def build_transfer(name: str, input_shape, num_classes: int, *, weights: str | None = "imagenet", head: str = "dense",
                   activation: str = "relu", base_size: int | None = None,
                   dropout: tuple[float, ...] | None = None, alpha: float | None = None,
                   train_batchnorm: bool = False):
    """The transfer model ``name`` (a key of ``BASES``) with a frozen base; see the module docstring for options."""
    spec = BASES[name]
    choose(name, "head", head, tuple(HEADS))
    choose(name, "activation", activation, ACTIVATIONS)
    size = spec.default_size if base_size is None else base_size
    if isinstance(size, bool) or not isinstance(size, int) or size < spec.min_size:
        raise EdgeclsError(f"{name}: base_size must be an integer >= {spec.min_size}; received base_size={size!r}")
    if not isinstance(train_batchnorm, bool):
        raise EdgeclsError(f"{name}: train_batchnorm must be true or false; "
                           f"received train_batchnorm={train_batchnorm!r}")
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise EdgeclsError(f"{name}: transfer models take RGB images (height, width, 3); "
                           f"received input_shape={tuple(input_shape)}")
    rates = _dropout(name, head, dropout)
    extra = {}
    if alpha is not None:
        if name != "mobilenetv2":
            raise EdgeclsError(f"{name}: alpha applies to mobilenetv2 only; received alpha={alpha!r}")
        extra["alpha"] = alpha

    k = keras()
    base = _base(name, spec, size, weights, extra)
    base._name = "base"  # deterministic, so unfreeze() and readers of the graph can find it
    base.trainable = False
    if train_batchnorm:
        _short_batchnorm_memory(base)
    inputs = k.Input(shape=tuple(input_shape), name="pixels")
    x = inputs
    if tuple(input_shape[:2]) != (size, size):
        x = k.layers.Resizing(size, size, name="resize")(x)
    x = _preprocess(x, spec.preprocess)
    # A frozen base runs its BatchNormalization in inference mode either way; training=False keeps it there after
    # unfreeze() too, unless the model is meant to learn its statistics.
    x = base(x) if train_batchnorm else base(x, training=False)
    x = HEADS[head](x, activation, rates)
    return k.Model(inputs, classifier(x, num_classes), name=name)


def _short_batchnorm_memory(base, momentum: float = 0.99) -> None:
    """Moving averages that settle within a short run: keras' MobileNetV2 keeps 0.999 (fitted to ImageNet's long
    schedules), and after 2,250 steps from scratch its averages still held a tenth of their start, so every test
    image got the same label (measured on CIFAR-10 at 32x32: validation 0.10 at 0.55 training accuracy)."""
    norm = keras().layers.BatchNormalization
    for layer in base.layers:
        if isinstance(layer, norm):
            layer.momentum = min(layer.momentum, momentum)


def _dropout(name: str, head: str, dropout) -> tuple[float, ...]:
    default = DROPOUT[head]
    if dropout is None:
        return default
    rates = (dropout,) if isinstance(dropout, (int, float)) else tuple(dropout)
    if len(rates) != len(default) or not all(isinstance(r, (int, float)) and 0 <= r < 1 for r in rates):
        raise EdgeclsError(f"{name}: the {head} head takes {len(default)} dropout rate(s) in [0, 1) "
                           f"(default {default}); received dropout={dropout!r}")
    return tuple(float(r) for r in rates)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _base(name: str, spec: Base, size: int, weights: str | None, extra: dict):
    """The keras.applications model without its top, for ``size`` x ``size`` RGB inputs."""
    app = spec.build or getattr(keras().applications, spec.application)
    shape = (size, size, 3)
    if weights is None or weights == "none":  # None as keras spells it
        return app(include_top=False, weights=None, input_shape=shape, **extra)
    if weights == "imagenet":
        try:
            return app(include_top=False, weights="imagenet", input_shape=shape, **extra)
        except EdgeclsError:
            raise  # an edgecls builder says itself what is missing
        except ValueError as exc:  # e.g. an alpha keras publishes no weights for
            raise EdgeclsError(f"{name}: {_first_line(exc)}") from None
        except Exception as exc:  # keras' get_file raises a bare Exception when the download fails
            raise EdgeclsError(f"{name}: keras could not get the ImageNet weights ({_first_line(exc)}); it downloads "
                               "them once into ~/.keras/models, or pass weights=<local .h5 file>") from None
    path = Path(str(weights))
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        raise EdgeclsError(f"{name}: weights must be one of {', '.join(WEIGHTS)} or the path of an existing .h5 file; "
                           f"received weights={weights!r}")
    import h5py  # a dependency of keras, which saves weights with it

    if not h5py.is_hdf5(path):
        raise EdgeclsError(f"{path}: not an HDF5 file; weights must be one of {', '.join(WEIGHTS)} or an .h5 file "
                           "saved by keras")
    base = app(include_top=False, weights=None, input_shape=shape, **extra)
    try:
        base.load_weights(str(path))
    except Exception as exc:  # h5py and keras raise several types for a file of another shape
        what = ", ".join(f"{key}={value}" for key, value in {"include_top": False, **extra}.items())
        raise EdgeclsError(f"{path}: these are not {spec.application}({what}) weights "
                           f"({_first_line(exc)})") from None
    if name == "efficientnetb0":
        _match_keras_imagenet_stem(base)
    return base


def _match_keras_imagenet_stem(base) -> None:
    """Make a base loaded from an ImageNet .h5 compute what keras' ``EfficientNetB0(weights="imagenet")`` does.

    With ImageNet weights keras divides by sqrt(stddev) once more after the Normalization layer (its comment cites
    tensorflow/tensorflow#49930); a base built with ``weights=None`` lacks that step. When the loaded Normalization
    holds the ImageNet variance (stddev**2), that extra factor is folded into it: (x - mean) / sqrt(var * stddev).
    A file saved from a base built without ImageNet weights (variance 1) is left as it is.
    """
    norm = next(layer for layer in base.layers if isinstance(layer, keras().layers.Normalization))
    mean, variance, count = norm.get_weights()
    stddev = np.asarray(EFFICIENTNET_STDDEV, dtype=variance.dtype).reshape(variance.shape)
    if np.allclose(variance, stddev**2, rtol=1e-3):
        norm.set_weights([mean, variance * stddev, count])
        norm.finalize_state()  # Normalization reads its weights through tensors made here


def _preprocess(x, mode: str):
    """``preprocess_input`` of the base as layers: it takes 0..255 RGB pixels."""
    k = keras()
    if mode == "tf":
        return k.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(x)
    if mode == "caffe":
        # out[..., c] = in[..., 2 - c] - mean_bgr[c]: the channel swap as a 1x1 kernel, minus the means as its bias.
        conv = k.layers.Conv2D(3, 1, trainable=False, name="caffe_preprocess")
        y = conv(x)
        kernel = np.zeros((1, 1, 3, 3), np.float32)
        for c in range(3):
            kernel[0, 0, 2 - c, c] = 1.0
        conv.set_weights([kernel, -np.asarray(CAFFE_BGR_MEANS, np.float32)])
        return y
    return x


def conv_head(x, activation: str, rates: tuple[float, ...]):
    """Conv2D 128 + Dropout + Conv2D 64 + GAP + Dense 128 + Dropout (EfficientNetB0 seed: 0.920 tanh on CIFAR-10)."""
    k = keras()
    x = k.layers.Conv2D(128, 3, padding="same", activation=activation, name="head_conv1")(x)
    x = k.layers.Dropout(rates[0], name="head_dropout1")(x)
    x = k.layers.Conv2D(64, 3, padding="same", activation=activation, name="head_conv2")(x)
    x = k.layers.GlobalAveragePooling2D(name="head_gap")(x)
    x = k.layers.Dense(128, activation=activation, name="head_dense")(x)
    return k.layers.Dropout(rates[1], name="head_dropout2")(x)


def dense_head(x, activation: str, rates: tuple[float, ...]):
    """GAP + Dense 256 + Dropout + Dense 128 + Dropout (MobileNetV2 seed: 0.937 on Animals-10)."""
    k = keras()
    x = k.layers.GlobalAveragePooling2D(name="head_gap")(x)
    x = k.layers.Dense(256, activation=activation, name="head_dense1")(x)
    x = k.layers.Dropout(rates[0], name="head_dropout1")(x)
    x = k.layers.Dense(128, activation=activation, name="head_dense2")(x)
    return k.layers.Dropout(rates[1], name="head_dropout2")(x)


def linear_head(x, activation: str, rates: tuple[float, ...]):
    """GAP only: the classifier after it is the one trained layer (``activation`` is unused)."""
    return keras().layers.GlobalAveragePooling2D(name="head_gap")(x)


# Each head ends in features; classifier() adds the Dense N "logits" and the Softmax "probabilities".
HEADS = {"conv": conv_head, "dense": dense_head, "linear": linear_head}


def unfreeze(model, last_n: int | None = None, from_layer: str | None = None, fraction: float | None = None,
             batchnorm: bool = False) -> int:
    """Phase 2 of fine-tuning: make the top of the ``base`` layer trainable, every BatchNormalization kept frozen
    unless ``batchnorm`` (for a model built with ``train_batchnorm=True``).

    Give at most one of ``last_n`` (the last N base layers), ``from_layer`` (that base layer and all after it) or
    ``fraction`` (the top share of base layers, e.g. 0.1 for the top 10%); with none, the whole base trains.
    Layers are counted in ``base.layers`` order without its input layer. Compile the model again afterwards.
    Returns how many base layers are trainable.
    """
    k = keras()
    chosen = [n for n, v in (("last_n", last_n), ("from_layer", from_layer), ("fraction", fraction)) if v is not None]
    if len(chosen) > 1:
        raise EdgeclsError(f"unfreeze takes at most one of last_n, from_layer, fraction; received {', '.join(chosen)}")
    try:
        base = model.get_layer("base")
    except ValueError:
        raise EdgeclsError(f"{model.name}: unfreeze needs an edgecls transfer model with a 'base' layer") from None
    layers = [layer for layer in base.layers if not isinstance(layer, k.layers.InputLayer)]
    start = 0
    if last_n is not None:
        if isinstance(last_n, bool) or not isinstance(last_n, int) or last_n < 0:
            raise EdgeclsError(f"last_n must be an integer >= 0; received last_n={last_n!r}")
        start = max(0, len(layers) - last_n)
    elif fraction is not None:
        if not 0 < fraction <= 1:
            raise EdgeclsError(f"fraction must be in (0, 1]; received fraction={fraction!r}")
        start = len(layers) - math.ceil(fraction * len(layers))
    elif from_layer is not None:
        names = [layer.name for layer in layers]
        if from_layer not in names:
            close = difflib.get_close_matches(from_layer, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise EdgeclsError(f"{model.name}: the base has no layer {from_layer!r}.{hint} "
                               f"Its layers run from {names[0]!r} to {names[-1]!r}")
        start = names.index(from_layer)
    base.trainable = True
    for i, layer in enumerate(layers):
        layer.trainable = i >= start and (batchnorm or not isinstance(layer, k.layers.BatchNormalization))
    return sum(layer.trainable for layer in layers)
