"""Optimizers and learning-rate schedules, built from a TrainConfig (Keras built-ins only, so models reload)."""

from __future__ import annotations

import math

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


def rate_falls_at(config: TrainConfig, first_epoch: int = 0) -> int:
    """The epoch from which a scheduled rate is below half its peak: early stopping waits for it, because under
    a decaying rate the accuracy comes late (at the peak of airbench's rate, validation accuracy swung by 15 points
    for 15 epochs). A constant rate gives ``first_epoch``: no wait. Phase 2 (``first_epoch`` >= ``config.epochs``)
    is a plain cosine over the fine-tuning epochs."""
    if config.schedule == "constant":
        return first_epoch
    if first_epoch >= config.epochs:
        return first_epoch + math.ceil(config.fine_tune_epochs / 2)
    if config.schedule == "cosine":
        return math.ceil(config.epochs / 2)
    warmup = config.epochs * config.warmup_fraction
    return math.ceil(warmup + (config.epochs - warmup) / 2)


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
