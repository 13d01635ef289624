"""Quantization-aware training with tensorflow-model-optimization (Keras 2 through tf_keras).

The model is flattened (a transfer model's base is a nested model, which tfmot cannot quantize), every layer
tfmot's default 8-bit scheme supports is annotated, and the rest stay float during fine-tuning:
the input Rescaling / Resizing layers and BatchNormalization that does not directly follow a linear
convolution (tfmot folds only Conv -> BN). The TFLite converter then quantizes all of it to int8.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgecls._tf import keras
from edgecls.errors import EdgeclsError, MissingExtraError


@dataclasses.dataclass(frozen=True)
class QatOptions:
    epochs: int = 2
    learning_rate: float = 1e-4
    batch_size: int = 128
    limit: int | None = None          # fine-tune on at most this many training images


def _tfmot():
    keras()  # TF_USE_LEGACY_KERAS first
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError:
        raise MissingExtraError("tensorflow-model-optimization", "train") from None
    return tfmot


def _inbound(layer):
    inbound = layer.inbound_nodes[0].inbound_layers
    return inbound if isinstance(inbound, list) else [inbound]


def flatten(model):
    """The same layers (weights shared) as one flat functional graph: nested models are inlined."""
    k = keras()

    def run(graph, x):
        tensors = {}
        for layer in graph.layers:
            if isinstance(layer, k.layers.InputLayer):
                tensors[layer.name] = x
                continue
            args = [tensors[l.name] for l in _inbound(layer)]
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
    registry = tfmot.quantization.keras.default_8bit.Default8BitQuantizeRegistry()
    linear = (k.layers.Conv2D, k.layers.DepthwiseConv2D, k.layers.Dense)
    foldable = {layer.name for layer in model.layers if isinstance(layer, k.layers.BatchNormalization)
                and all(isinstance(i, linear) and i.get_config().get("activation") == "linear"
                        for i in _inbound(layer))}
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
            qat_model = tfmot.quantization.keras.quantize_apply(annotated)
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise EdgeclsError(f"{model.name}: tfmot cannot quantize this model ({first})") from None
    qat_model.compile(optimizer=k.optimizers.Adam(options.learning_rate),
                      loss=k.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
                      metrics=["accuracy"])
    data = make_dataset(x_train, y_train, num_classes, options.batch_size, True, augment)
    qat_model.fit(data, epochs=options.epochs, verbose=2)
    return qat_model
