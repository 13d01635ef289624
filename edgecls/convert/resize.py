"""Export a trained model at a larger input than it was trained at.

A transfer model trained on CIFAR-10 takes 32x32 pixels and upsamples them to its base's size (say 96) with a
Resizing layer. Photos have more detail than that: exported with a 96x96 input and that Resizing layer dropped,
the model sees a photo at the resolution its ImageNet base was made for. The weights are the trained ones;
only the input changes. Whether that helps is measured, not assumed: the converter checks the exported
model on held-out images decoded at the new size (CIFAR-10's 32x32 test images are upsampled by the runtime).
"""

from __future__ import annotations

from edgecls._tf import keras
from edgecls.errors import EdgeclsError


def inbound_layers(layer, graph) -> list:
    """The layers that feed ``layer`` inside ``graph``. A layer called in several graphs (the layers of a model
    rebuilt by ``with_input_size``, say) has one node per call; only the one ``graph`` owns counts."""
    owned = getattr(graph, "_network_nodes", None)  # tf_keras keys them "<layer>_ib-<node index>"
    for index, node in enumerate(layer.inbound_nodes):
        if owned is None or f"{layer.name}_ib-{index}" in owned:
            inbound = node.inbound_layers
            return inbound if isinstance(inbound, list) else [inbound]
    raise KeyError(layer.name)


def with_input_size(model, side: int):
    """The same layers (weights shared) behind a ``side`` x ``side`` input; a Resizing layer that resizes to
    exactly that size becomes a pass-through and is left out."""
    k = keras()
    if len(model.inputs) != 1:
        raise EdgeclsError(f"{model.name}: --input-size needs a model with one input")
    channels = model.input_shape[-1]
    inputs = k.Input((side, side, channels), name=model.input_names[0])
    tensors = {}
    try:
        for layer in model.layers:
            if isinstance(layer, k.layers.InputLayer):
                tensors[layer.name] = inputs
                continue
            args = [tensors[i.name] for i in inbound_layers(layer, model)]
            arg = args if len(args) > 1 else args[0]
            config = layer.get_config()
            if isinstance(layer, k.layers.Resizing) and (config["height"], config["width"]) == (side, side):
                tensors[layer.name] = arg
            else:
                tensors[layer.name] = layer(arg)
        return k.Model(inputs, tensors[model.layers[-1].name], name=model.name)
    except (KeyError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeclsError(f"{model.name}: cannot take a {side}x{side} input ({first})") from None
