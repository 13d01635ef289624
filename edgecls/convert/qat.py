"""Quantization-aware training with tensorflow-model-optimization (Keras 2 through tf_keras).

The model is flattened (a transfer model's base is a nested model, which tfmot cannot quantize), every layer
tfmot's default 8-bit scheme supports is annotated, and the rest stay float during fine-tuning:
the input Rescaling / Resizing layers and BatchNormalization that does not directly follow a linear
convolution (tfmot folds only Conv -> BN). The TFLite converter then quantizes all of it to int8.

Before fine-tuning, every quantizer's range is calibrated from the float model. tfmot starts each range at
[-6, 6] and moves it by an exponential moving average with decay 0.999, so a few hundred steps barely move it:
MobileNetV2's linear bottlenecks reach +-40 and were clipped to +-6 (QAT model agreeing with the float model on
9% of test images before training; 0.64 top-1 after an epoch), and in inference mode the weight ranges stay
at [-6, 6] until the first training step, which rounds small kernels to zero. BatchNorm stays in inference
mode while fine-tuning (on MobileNetV2 alpha 0.35: 0.832 top-1 after one QAT epoch with it frozen, 0.8105 after
two with batch statistics, float 0.8385, on the same 2,000 test images).

Depthwise kernels get one range per channel (``_scheme``). tfmot's per-axis quantizer keeps one range per *last*
kernel axis, which for a depthwise kernel (height, width, channels, multiplier) is the multiplier: one range for
all channels (tensorflow/model-optimization#808). The converter copies that one range to every channel of the
int8 file, so a channel with small weights rounds to zero, where post-training int8 gives each channel its own.
"""

from __future__ import annotations

import copy
import dataclasses
import functools

import numpy as np

from edgecls._tf import keras
from edgecls.errors import EdgeclsError, MissingExtraError
from edgecls.convert.resize import inbound_layers


@dataclasses.dataclass(frozen=True)
class QatOptions:
    epochs: int = 2
    learning_rate: float = 1e-4
    batch_size: int = 128
    limit: int | None = None          # fine-tune on at most this many training images
    calibration_samples: int = 512    # training images that set the quantizer ranges before fine-tuning
    freeze_batchnorm: bool = True     # BatchNorm keeps its trained statistics (inference mode) while fine-tuning


def _tfmot():
    keras()  # TF_USE_LEGACY_KERAS first
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError:
        raise MissingExtraError("tensorflow-model-optimization", "train") from None
    return tfmot


@functools.cache
def _scheme():
    """tfmot's default 8-bit scheme, with a range per channel for depthwise kernels (see the module's text)."""
    k, tfmot = keras(), _tfmot()
    import tensorflow as tf

    default_8bit = tfmot.quantization.keras.default_8bit

    class DepthwiseKernelQuantizer(tfmot.quantization.keras.quantizers.LastValueQuantizer):
        """Symmetric per-channel ranges over channels x multiplier: the output channels of the TFLite op."""

        def __init__(self):
            super().__init__(num_bits=8, per_axis=True, symmetric=True, narrow_range=True)

        def build(self, tensor_shape, name, layer):
            channels = int(tensor_shape[-2]) * int(tensor_shape[-1])
            return {f"{end}_var": layer.add_weight(f"{name}_{end}", shape=(channels,), trainable=False,
                                                   initializer=k.initializers.Constant(start))
                    for end, start in (("min", -6.0), ("max", 6.0))}

        def __call__(self, inputs, training, weights, **kwargs):
            h, w, channels, multiplier = inputs.shape
            flat = tf.reshape(inputs, (h, w, 1, channels * multiplier))  # (c, m) -> output channel c * m + m'
            return tf.reshape(super().__call__(flat, training, weights, **kwargs), inputs.shape)

        def get_config(self):
            return {}

    class Registry(default_8bit.Default8BitQuantizeRegistry):
        def get_quantize_config(self, layer):
            config = super().get_quantize_config(layer)
            if isinstance(layer, k.layers.DepthwiseConv2D) and hasattr(config, "weight_quantizer"):
                config = copy.copy(config)
                config.weight_quantizer = DepthwiseKernelQuantizer()
            return config

    class Scheme(default_8bit.Default8BitQuantizeScheme):
        def get_quantize_registry(self):
            return Registry()

    return Scheme()


def flatten(model):
    """The same layers (weights shared) as one flat functional graph: nested models are inlined."""
    k = keras()

    def run(graph, x):
        tensors = {}
        for layer in graph.layers:
            if isinstance(layer, k.layers.InputLayer):
                tensors[layer.name] = x
                continue
            args = [tensors[l.name] for l in inbound_layers(layer, graph)]
            arg = args if len(args) > 1 else args[0]
            tensors[layer.name] = run(layer, arg) if isinstance(layer, k.Model) else layer(arg)
        return tensors[graph.layers[-1].name]

    if not any(isinstance(layer, k.Model) for layer in model.layers):
        return model
    inputs = k.Input(model.input_shape[1:], name=model.input_names[0])
    try:
        return k.Model(inputs, run(model, inputs), name=model.name)
    except (KeyError, ValueError, TypeError) as exc:
        raise EdgeclsError(f"{model.name}: cannot flatten the model for quantization-aware training ({exc})") from None


def annotate(model):
    """Annotate what tfmot's default 8-bit scheme can quantize; return (annotated model, names left float)."""
    k, tfmot = keras(), _tfmot()
    registry = _scheme().get_quantize_registry()
    linear = (k.layers.Conv2D, k.layers.DepthwiseConv2D, k.layers.Dense)
    foldable = {layer.name for layer in model.layers if isinstance(layer, k.layers.BatchNormalization)
                and all(isinstance(i, linear) and i.get_config().get("activation") == "linear"
                        for i in inbound_layers(layer, model))}
    left_float = []

    def clone(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if registry.supports(layer) or layer.name in foldable:
            return tfmot.quantization.keras.quantize_annotate_layer(fresh)
        left_float.append(layer.name)
        return fresh

    annotated = k.models.clone_model(model, clone_function=clone)
    annotated.set_weights(model.get_weights())
    return annotated, left_float


def _last_output(layer):
    """The layer's output in the most recent graph it was called in (flatten() calls shared layers again)."""
    return layer.get_output_at(len(layer.inbound_nodes) - 1)


def calibrate(qat_model, float_model, x: np.ndarray, batch_size: int = 64, batches: int = 8) -> int:
    """Set every quantizer range of ``qat_model`` from the float model; return how many ranges were set.

    Input quantizers take their input's range; activation ranges (``output_*``, ``post_activation_*``) become the mean over a few batches of each batch's
    min / max of the same layer's float output (what tfmot's moving average converges to); weight ranges
    become the weights' own min / max, per channel where the quantizer is per channel.
    """
    k = keras()
    layers = {layer.name: layer for layer in float_model.layers if not isinstance(layer, k.layers.InputLayer)}
    wrappers = [w for w in qat_model.layers if getattr(w, "layer", None) is not None and w.layer.name in layers]
    probe = k.Model(float_model.inputs, [_last_output(layers[w.layer.name]) for w in wrappers])
    lows, highs = [], []
    for start in range(0, min(len(x), batch_size * batches), batch_size):
        outs = probe(x[start:start + batch_size].astype(np.float32), training=False)
        outs = outs if isinstance(outs, list) else [outs]
        lows.append([float(np.min(o)) for o in outs])
        highs.append([float(np.max(o)) for o in outs])
    low, high = np.mean(lows, axis=0), np.mean(highs, axis=0)
    count = 0
    # QuantizeLayers (on the model input, or after a layer kept float) start at [0, 0]: their range is their
    # input's, read from the quantization-aware model itself (what feeds them is float)
    feeds = [layer for layer in qat_model.layers if layer.__class__.__name__ == "QuantizeLayer"]
    if feeds:
        probe_feeds = k.Model(qat_model.inputs, [f.get_input_at(len(f.inbound_nodes) - 1) for f in feeds])
        outs = probe_feeds(x[:batch_size * batches].astype(np.float32), training=False)
        outs = outs if isinstance(outs, list) else [outs]
        for feed, out in zip(feeds, outs):
            for var in feed.weights:
                if var.name.endswith(("_min:0", "_max:0")):
                    value = min(float(np.min(out)), 0.0) if "_min" in var.name else max(float(np.max(out)), 0.0)
                    var.assign(np.broadcast_to(np.float32(value), var.shape))
                    count += 1
    for i, wrapper in enumerate(wrappers):
        # the wrapped layer's kernel attribute is the fake-quantized tensor; the wrapper holds the variables
        own = {v.name.split("/")[-1].split(":")[0]: v for v in wrapper.weights
               if not v.name.startswith(wrapper.name + "/")}
        for var in wrapper.weights:
            name = var.name.split("/")[-1].split(":")[0]
            if not name.endswith(("_min", "_max")):
                continue
            attr = name[:-4]
            if attr in ("output", "post_activation"):
                value = min(low[i], 0.0) if name.endswith("_min") else max(high[i], 0.0)
            elif attr in own:
                weights = own[attr].numpy()
                reduce = np.min if name.endswith("_min") else np.max
                value = reduce(weights.reshape(-1, var.shape[0]) if var.shape.rank and var.shape[0] > 1
                               else weights.reshape(-1), axis=0)
                value = np.minimum(value, 0.0) if name.endswith("_min") else np.maximum(value, 0.0)
            else:
                continue
            var.assign(np.broadcast_to(np.asarray(value, np.float32), var.shape))
            count += 1
    return count


def quantization_aware(model, x_train: np.ndarray, y_train: np.ndarray, num_classes: int, options: QatOptions,
                       label_smoothing: float = 0.0, augment: str = "none", log=print):
    """Fine-tune a quantization-aware copy of ``model`` and return it (ready for int8 conversion)."""
    from edgecls.train.pipeline import make_dataset

    k, tfmot = keras(), _tfmot()
    annotated, left_float = annotate(flatten(model))
    if left_float:
        log(f"qat: kept float during fine-tuning (quantized at conversion): {', '.join(left_float)}")
    try:
        with tfmot.quantization.keras.quantize_scope():
            qat_model = tfmot.quantization.keras.quantize_apply(annotated, scheme=_scheme())
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise EdgeclsError(f"{model.name}: tfmot cannot quantize this model ({first})") from None
    calibrate(qat_model, flatten(model), x_train[:options.calibration_samples])
    if options.freeze_batchnorm:
        # batch statistics of a few hundred fine-tuning steps are noisier than the trained moving averages, and
        # the converter folds the moving averages: frozen, the fine-tuned model is the one that gets converted
        for wrapper in qat_model.layers:
            if isinstance(getattr(wrapper, "layer", wrapper), k.layers.BatchNormalization):
                wrapper.trainable = False
    qat_model.compile(optimizer=k.optimizers.Adam(options.learning_rate),
                      loss=k.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
                      metrics=["accuracy"])
    data = make_dataset(x_train, y_train, num_classes, options.batch_size, True, augment)
    qat_model.fit(data, epochs=options.epochs, verbose=2)
    return qat_model
