"""Optimizers and learning-rate schedules, built from a TrainConfig (Keras built-ins only, so models reload)."""

from __future__ import annotations

import functools
import math

from edgecls._tf import keras, tf
from edgecls.train.config import TrainConfig

# airbench's schedule in multiples of the peak rate: where the linear warm-up starts and where the decay ends
LINEAR_START, LINEAR_END = 0.2, 0.07


@functools.cache
def _linear_schedule():
    k = keras()

    @k.utils.register_keras_serializable(package="edgecls")
    class LinearWarmupDecay(k.optimizers.schedules.LearningRateSchedule):
        """airbench's rate: linear from ``start`` x ``peak`` up to ``peak`` over ``warmup`` steps, then linear down to
        ``end`` x ``peak`` at ``steps`` (and flat after)."""

        def __init__(self, peak: float, steps: int, warmup: int, start: float = LINEAR_START,
                     end: float = LINEAR_END):
            self.peak, self.steps, self.warmup = float(peak), int(steps), max(1, int(warmup))
            self.start, self.end = float(start), float(end)

        def __call__(self, step):
            t = tf()
            step = t.cast(step, t.float32)
            up = self.start + (1.0 - self.start) * step / self.warmup
            down = 1.0 - (1.0 - self.end) * (step - self.warmup) / max(1, self.steps - self.warmup)
            return self.peak * t.where(step < self.warmup, up, t.maximum(down, self.end))

        def get_config(self):
            return {"peak": self.peak, "steps": self.steps, "warmup": self.warmup, "start": self.start,
                    "end": self.end}

    return LinearWarmupDecay


def register() -> None:
    """Make edgecls' schedules known to Keras, so that a compiled model using one loads (``--resume``)."""
    _linear_schedule()


def learning_rate(config: TrainConfig, steps: int):
    """A float for ``constant``; a CosineDecay schedule for ``cosine`` and ``onecycle`` (linear warm-up, then
    cosine); airbench's linear warm-up and decay for ``linear``."""
    k = keras()
    if config.schedule == "constant":
        return config.learning_rate
    if config.schedule == "cosine":
        return k.optimizers.schedules.CosineDecay(config.learning_rate, steps, alpha=0.01)
    warmup = max(1, int(steps * config.warmup_fraction))
    if config.schedule == "linear":
        return _linear_schedule()(config.learning_rate, steps, warmup)
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
    if config.schedule == "linear":   # half the peak once the decay is 0.5 / (1 - end) of the way down
        return math.ceil(warmup + (config.epochs - warmup) * 0.5 / (1.0 - LINEAR_END))
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
