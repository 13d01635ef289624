"""Callbacks edgecls adds to every fit: atomic best-model checkpoints and a throughput line per epoch."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from edgecls._tf import keras
from edgecls.models.checks import save_model
from edgecls.models.whitening import WHITEN_LAYER
from edgecls.train.config import TrainConfig
from edgecls.train.optim import rate_falls_at

Callback = keras().callbacks.Callback


class AtomicCheckpoint(Callback):
    """Save the model (with optimizer state) whenever ``monitor`` improves, via temp file + rename."""

    def __init__(self, path: Path, monitor: str = "val_accuracy"):
        super().__init__()
        self.path, self.monitor, self.best = Path(path), monitor, -math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value > self.best:
            self.best = value
            save_model(self.model, self.path)


class Throughput(Callback):
    """Print training images per second after each epoch, and put the epoch's wall time into the logs as
    ``seconds`` so that the CSV history (which must come after this callback) records it."""

    def __init__(self, images_per_epoch: int, stream=None):
        super().__init__()  # stream None: sys.stderr as it is at print time, not as it was at import
        self.images, self.stream, self.start = images_per_epoch, stream, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.start
        logs = {} if logs is None else logs
        parts = [f"epoch {epoch + 1}", f"{seconds:.0f}s", f"{self.images / max(seconds, 1e-9):.0f} img/s"]
        parts += [f"{k} {v:.4f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_loss", "val_accuracy")]
        print("  ".join(parts), file=self.stream or sys.stderr, flush=True)
        logs["seconds"] = round(seconds, 1)


class Lookahead(Callback):
    """airbench's Lookahead: from ``start`` of the way through training, every ``every`` steps the weights (batch-norm
    statistics too) move into a running average, ``avg = rho * avg + (1 - rho) * w``, and training continues from
    the average. ``rho`` grows with the cube of progress up to ``base``, so averaging is light early and strong at
    the end. airbench's numbers are per 1,024-image batch; here the interval scales with the batch size so that it
    covers the same number of images (5,120). Progress counts from ``first_epoch``, the epoch the phase (the fit)
    starts at, so a fine-tuning phase averages over its own steps. A resumed run starts a new average from the
    weights it resumes with."""

    def __init__(self, batch_size: int, base: float = 0.95 ** 5, start: float = 0.3, power: float = 3.0,
                 first_epoch: int = 0):
        super().__init__()
        self.every = max(1, round(5 * 1024 / batch_size))
        self.base, self.start, self.power, self.first_epoch = base, start, power, first_epoch
        self.average, self.epoch, self.weights = None, 0, []

    def on_train_begin(self, logs=None):
        self.weights = [w for w in self.model.weights if w.dtype.is_floating and w.trainable or "moving" in w.name]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params["steps"]
        step = (self.epoch - self.first_epoch) * steps + batch + 1
        progress = step / (steps * (self.params["epochs"] - self.first_epoch))
        if progress < self.start or step % self.every:
            return
        if self.average is None:
            self.average = [w.numpy() for w in self.weights]
            return
        rho = self.base * progress ** self.power
        for w, avg in zip(self.weights, self.average):
            avg *= rho
            avg += (1.0 - rho) * w.numpy()
            w.assign(avg)


class BiasFirst(Callback):
    """Train the bias of the frozen layer ``layer`` for the epochs before ``epochs``, its kernel held where it is:
    airbench trains its whitening stem's bias for the first three epochs. The layer turns trainable when training
    begins and frozen again from epoch ``epochs`` on (a resumed run past it never unfreezes it); each time the train
    step is traced anew so that the optimizer sees the change, and after every batch the kernel is put back, which
    leaves the bias as the only weight of the layer that moves (its momentum and weight decay included)."""

    def __init__(self, layer: str, epochs: int):
        super().__init__()
        self.layer_name, self.epochs = layer, epochs
        self.layer, self.kernel = None, None

    def _set_trainable(self, trainable: bool) -> None:
        self.layer.trainable = trainable
        self.model.make_train_function(force=True)

    def on_train_begin(self, logs=None):
        self.layer = self.model.get_layer(self.layer_name)
        self.kernel = self.layer.kernel.numpy()
        self._set_trainable(True)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.epochs and self.layer.trainable:
            self._set_trainable(False)

    def on_train_batch_end(self, batch, logs=None):
        if self.layer.trainable:
            self.layer.kernel.assign(self.kernel)

    def on_train_end(self, logs=None):
        if self.layer.trainable:
            self._set_trainable(False)


def standard_callbacks(config: TrainConfig, run_dir: Path, images_per_epoch: int, backup: str = "backup",
                       first_epoch: int = 0) -> list:
    """Early stopping on val_accuracy (best weights kept; under a scheduled rate it starts once the rate has
    fallen below half its peak), reduce-on-plateau for constant rates, the CSV history,
    best-model checkpoints, a backup for resuming after an interruption, and the throughput line."""
    k = keras()
    from edgecls.train import runs

    cbs = [
        k.callbacks.BackupAndRestore(str(run_dir / backup)),
        k.callbacks.EarlyStopping(monitor="val_accuracy", patience=config.early_stopping_patience,
                                  restore_best_weights=True, verbose=1,
                                  start_from_epoch=rate_falls_at(config, first_epoch)),
        Throughput(images_per_epoch),  # before the CSV history: it adds the epoch's seconds to the logs
        k.callbacks.CSVLogger(str(run_dir / runs.HISTORY), append=True),
        AtomicCheckpoint(run_dir / runs.CHECKPOINT),
    ]
    if config.lookahead:
        # works between batches, so its place in the list does not matter
        cbs.append(Lookahead(config.batch_size, first_epoch=first_epoch))
    if config.whiten_bias_epochs and first_epoch == 0:
        # before Lookahead, so that the average takes in the bias while it trains
        cbs.insert(0, BiasFirst(WHITEN_LAYER, config.whiten_bias_epochs))
    if config.schedule == "constant":
        cbs.insert(2, k.callbacks.ReduceLROnPlateau(monitor="val_accuracy", mode="max",
                                                    patience=config.reduce_lr_patience,
                                                    factor=config.reduce_lr_factor,
                                                    min_lr=config.min_learning_rate, verbose=1))
    return cbs
