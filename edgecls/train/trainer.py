"""``train(config, run_dir)``: data -> model -> fit -> evaluate -> a complete run folder."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np

from edgecls.data import DataOptions, load_dataset
from edgecls.data.dataset import stratified_sample, stratified_split
from edgecls.data.decode import decode_split
from edgecls.fileio import atomic_path, write_json
from edgecls.metrics import classification_report, format_report
from edgecls.models import create_model
from edgecls.models.checks import refuse_lambda
from edgecls.train import runs
from edgecls.train.config import TrainConfig

DEFAULT_SIZE = 32


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare_data(config: TrainConfig):
    """Decode the train / val / test arrays once. Returns (dataset, input_size, arrays dict, skipped)."""
    dataset = load_dataset(config.data, DataOptions(class_map=config.class_map, seed=config.seed))
    train = dataset.split("train")
    if config.input_size:
        size = (config.input_size, config.input_size)
    elif train.pixels is not None:
        size = (train.pixels.shape[2], train.pixels.shape[1])
    else:
        size = (DEFAULT_SIZE, DEFAULT_SIZE)
    if config.limit and config.limit < len(train):
        train = train.subset(stratified_sample(train.labels, config.limit, config.seed))
    arrays, skipped = {}, list(dataset.skipped)
    if "val" in dataset.splits:
        parts = {"train": train, "val": dataset.split("val")}
    else:
        keep, held = stratified_split(train.labels, config.val_fraction, config.seed)
        parts = {"train": train.subset(keep), "val": train.subset(held)}
    if "test" in dataset.splits:
        parts["test"] = dataset.split("test")
    for name, split in parts.items():
        x, y, bad = decode_split(split, size)
        arrays[name] = (x, y)
        skipped += bad
    for path, reason in skipped:
        log(f"skipped {path}: {reason}")
    if skipped:
        log(f"skipped {len(skipped)} unreadable file(s)")
    return dataset, size, arrays, skipped


def train(config: TrainConfig, run_dir: str | Path, command: str | None = None) -> dict:
    """Train ``config.model`` on ``config.data`` into ``run_dir`` and return the test metrics."""
    from edgecls._tf import keras, tf
    from edgecls.train.callbacks import standard_callbacks
    from edgecls.train.optim import make_optimizer
    from edgecls.train.pipeline import make_dataset

    k, t = keras(), tf()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    k.utils.set_random_seed(config.seed)

    dataset, size, arrays, _ = prepare_data(config)
    (x_train, y_train), (x_val, y_val) = arrays["train"], arrays["val"]
    classes = dataset.classes
    log(f"data {config.data}: {len(y_train)} train, {len(y_val)} val"
        + (f", {len(arrays['test'][1])} test" if "test" in arrays else "") + f" images at {size[0]}x{size[1]}")

    info = runs.RunInfo(config.model, classes, size, "crop", config.data, config.to_dict(),
                        command or shlex.join(sys.argv))
    write_json(run_dir / runs.CONFIG, info.to_dict())

    steps = int(np.ceil(len(y_train) / config.batch_size)) * config.epochs
    model = create_model(config.model, (size[1], size[0], 3), len(classes))
    refuse_lambda(model, config.model)
    model.compile(optimizer=make_optimizer(config, steps),
                  loss=k.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                  metrics=["accuracy"])
    train_ds = make_dataset(x_train, y_train, len(classes), config.batch_size, True, config.augment, config.seed)
    val_ds = make_dataset(x_val, y_val, len(classes), config.batch_size)
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, verbose=2,
              callbacks=standard_callbacks(config, run_dir, len(y_train)))

    with atomic_path(run_dir / runs.MODEL) as tmp:
        model.save(tmp)
    eval_name = "test" if "test" in arrays else "val"
    x_eval, y_eval = arrays[eval_name]
    probs = model.predict(make_dataset(x_eval, y_eval, len(classes), 256), verbose=0)
    report = classification_report(y_eval, probs.argmax(axis=1), classes, probs)
    report["split"] = eval_name
    write_json(run_dir / runs.METRICS, report)
    log(format_report(report))
    return report
