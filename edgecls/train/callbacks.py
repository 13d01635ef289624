"""Callbacks edgecls adds to every fit: atomic best-model checkpoints and a throughput line per epoch."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from edgecls._tf import keras
from edgecls.models.checks import save_model
from edgecls.train.config import TrainConfig

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


def standard_callbacks(config: TrainConfig, run_dir: Path, images_per_epoch: int, backup: str = "backup") -> list:
    """Early stopping on val_accuracy (best weights kept), reduce-on-plateau for constant rates, the CSV history,
    best-model checkpoints, a backup for resuming after an interruption, and the throughput line."""
    k = keras()
    from edgecls.train import runs

    cbs = [
        k.callbacks.BackupAndRestore(str(run_dir / backup)),
        k.callbacks.EarlyStopping(monitor="val_accuracy", patience=config.early_stopping_patience,
                                  restore_best_weights=True, verbose=1),
        Throughput(images_per_epoch),  # before the CSV history: it adds the epoch's seconds to the logs
        k.callbacks.CSVLogger(str(run_dir / runs.HISTORY), append=True),
        AtomicCheckpoint(run_dir / runs.CHECKPOINT),
    ]
    if config.schedule == "constant":
        cbs.insert(2, k.callbacks.ReduceLROnPlateau(monitor="val_accuracy", mode="max",
                                                    patience=config.reduce_lr_patience,
                                                    factor=config.reduce_lr_factor,
                                                    min_lr=config.min_learning_rate, verbose=1))
    return cbs
