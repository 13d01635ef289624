"""Optimizers and learning-rate schedules, built from a TrainConfig (Keras built-ins only, so models reload)."""

from __future__ import annotations

from edgecls._tf import keras
from edgecls.train.config import TrainConfig


def learning_rate(config: TrainConfig, steps: int):
    """A float for ``constant``; a CosineDecay schedule otherwise (``onecycle`` = linear warm-up, then cosine)."""
    k = keras()
    if config.schedule == "constant":
        return config.learning_rate
    if config.schedule == "cosine":
        return k.optimizers.schedules.CosineDecay(config.learning_rate, steps, alpha=0.01)
    warmup = max(1, int(steps * config.warmup_fraction))
    return k.optimizers.schedules.CosineDecay(
        config.learning_rate / 25.0, max(1, steps - warmup), alpha=0.002,
        warmup_target=config.learning_rate, warmup_steps=warmup)


def make_optimizer(config: TrainConfig, steps: int):
    k = keras()
    lr = learning_rate(config, steps)
    wd = config.weight_decay or None
    if config.optimizer == "adam":
        return k.optimizers.Adam(lr, weight_decay=wd)
    if config.optimizer == "sgd":
        return k.optimizers.SGD(lr, momentum=config.momentum, nesterov=True, weight_decay=wd)
    if config.optimizer == "rmsprop":
        return k.optimizers.RMSprop(lr, momentum=0.0, weight_decay=wd)
    return k.optimizers.Adadelta(lr, weight_decay=wd)
