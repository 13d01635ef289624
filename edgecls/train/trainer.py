"""``train(config, run_dir)``: data -> model -> fit (one or two phases) -> evaluate -> a complete run folder."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import numpy as np

from edgecls.data import DataOptions, load_dataset
from edgecls.data.dataset import stratified_sample, stratified_split
from edgecls.data.decode import decode_split
from edgecls.errors import EdgeclsError
from edgecls.fileio import write_json
from edgecls.metrics import classification_report, format_report
from edgecls.models import MODELS, create_model
from edgecls.models.checks import load_model, refuse_lambda, save_model
from edgecls.models.precision import as_float32, compute_policy, cpu_has_bfloat16, precision_warning, resolve_policy
from edgecls.train import runs
from edgecls.train.config import TrainConfig

DEFAULT_SIZE = 32
FIT_SAMPLE = 5000         # training images a model's fit_to_data sees (airbench whitens from 5,000)
PHASE1 = "phase1.keras"   # the model after the frozen-base phase, so a resumed run can skip it


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare_data(config: TrainConfig):
    """Decode the train / val / test arrays once. Returns (dataset, input size, {split: (x, y)})."""
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
    if "val" in dataset.splits:
        parts = {"train": train, "val": dataset.split("val")}
    else:
        keep, held = stratified_split(train.labels, config.val_fraction, config.seed)
        parts = {"train": train.subset(keep), "val": train.subset(held)}
    if "test" in dataset.splits:
        parts["test"] = dataset.split("test")
    arrays, skipped = {}, list(dataset.skipped)
    for name, split in parts.items():
        x, y, bad = decode_split(split, size)
        arrays[name] = (x, y)
        skipped += bad
    for path, reason in skipped:
        log(f"skipped {path}: {reason}")
    if skipped:
        log(f"skipped {len(skipped)} unreadable file(s)")
    return dataset, size, arrays


def make_strategy(config: TrainConfig):
    """MirroredStrategy over every GPU when there are several (or when asked), else the default strategy."""
    from edgecls._tf import tf

    t = tf()
    gpus = t.config.list_logical_devices("GPU")
    if config.distribute == "mirrored" or (config.distribute == "auto" and len(gpus) > 1):
        if gpus:
            return t.distribute.MirroredStrategy()
        cpus = [d.name for d in t.config.list_logical_devices("CPU")]
        return t.distribute.MirroredStrategy(devices=cpus)
    return t.distribute.get_strategy()


def _compile(model, config: TrainConfig, steps: int, learning_rate: float | None = None) -> None:
    from edgecls._tf import keras, tf
    from edgecls.train.optim import make_optimizer

    phase = config if learning_rate is None else TrainConfig.from_dict(
        {**config.to_dict(), "learning_rate": learning_rate, "schedule": "cosine" if config.schedule != "constant"
         else "constant"})
    model.compile(optimizer=make_optimizer(phase, steps),
                  loss=keras().losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                  metrics=["accuracy"], jit_compile=bool(tf().config.list_logical_devices("GPU")))


def _fit(model, config: TrainConfig, run_dir: Path, train_ds, val_ds, images: int, steps: int, first: int,
         last: int, backup: str) -> None:
    from edgecls.models.whitening import WHITEN_LAYER
    from edgecls.train.callbacks import standard_callbacks

    if config.whiten_bias_epochs and WHITEN_LAYER not in {layer.name for layer in model.layers}:
        raise EdgeclsError(f"{config.model}: --whiten-bias-epochs trains the bias of a whitening stem (a layer named "
                           f"{WHITEN_LAYER!r}, as in airnet-w); this model has none")
    callbacks = standard_callbacks(config, run_dir, images, backup, first_epoch=first)
    # One endless iterator with the epoch's steps counted, not a new iterator per epoch: tearing down the finished
    # one (shuffle buffer, parallel map, prefetch) held up every epoch's start by 6-38 s on 2 cores, up to
    # 45% of the wall clock (docs/results.md). The shuffle still draws a new order for each pass.
    model.fit(train_ds.repeat(), steps_per_epoch=steps, validation_data=val_ds, initial_epoch=first, epochs=last,
              verbose=2, callbacks=callbacks)
    # Keras deletes its backup files when fit ends normally but leaves the empty folder behind.
    shutil.rmtree(run_dir / backup, ignore_errors=True)


def train(config: TrainConfig, run_dir: str | Path, command: str | None = None, resume: bool = False) -> dict:
    """Train ``config.model`` on ``config.data`` into ``run_dir`` and return the evaluation report.

    With ``resume`` the run continues from its last completed epoch (model, optimizer state and
    learning-rate schedule restored from the backup Keras writes after every epoch).
    """
    from edgecls._tf import keras, tf

    k, t = keras(), tf()
    run_dir = Path(run_dir)
    if not resume and (run_dir / runs.CONFIG).exists():
        raise EdgeclsError(f"{run_dir}: already holds a run; continue it with --resume or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    k.utils.set_random_seed(config.seed)
    if config.deterministic:
        t.config.experimental.enable_op_determinism()
    has_gpu = bool(t.config.list_logical_devices("GPU"))
    policy = resolve_policy(config.precision, has_gpu)
    warning = precision_warning(policy, has_gpu, cpu_has_bfloat16())
    if warning:
        log(warning)
    with compute_policy(policy):
        return _train(config, run_dir, command, resume, policy)


def _train(config: TrainConfig, run_dir: Path, command: str | None, resume: bool, policy: str) -> dict:
    from edgecls.train.pipeline import make_dataset

    dataset, size, arrays = prepare_data(config)
    (x_train, y_train), (x_val, y_val) = arrays["train"], arrays["val"]
    classes = dataset.classes
    log(f"data {config.data}: {len(y_train)} train, {len(y_val)} val"
        + (f", {len(arrays['test'][1])} test" if "test" in arrays else "") + f" images at {size[0]}x{size[1]}")
    if not resume:
        info = runs.RunInfo(config.model, classes, size, "crop", config.data, config.to_dict(),
                            command or shlex.join(sys.argv))
        write_json(run_dir / runs.CONFIG, info.to_dict())

    strategy = make_strategy(config)
    log(f"strategy {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s), computing in {policy}")
    batch = config.batch_size
    several = strategy.num_replicas_in_sync > 1
    if several and min(len(y_train), len(y_val)) < batch:
        raise EdgeclsError(f"with {strategy.num_replicas_in_sync} replicas every batch must be full; the batch size "
                           f"{batch} exceeds the {min(len(y_train), len(y_val))} images of a split")
    train_ds = make_dataset(x_train, y_train, len(classes), batch, True, config.augment, config.seed, several,
                            crop_pixels=config.crop_pixels, flips=config.flips)
    val_ds = make_dataset(x_val, y_val, len(classes), batch, drop_remainder=several)
    steps_per_epoch = len(y_train) // batch if several else int(np.ceil(len(y_train) / batch))
    with strategy.scope():
        if resume and (run_dir / PHASE1).exists():
            from edgecls.train.optim import register

            register()   # the compiled model may use one of edgecls' rate schedules
            model = load_model(run_dir / PHASE1, compile=True)
        else:
            model = create_model(config.model, (size[1], size[0], 3), len(classes), **config.model_options)
            refuse_lambda(model, config.model)
            fit_to_data = MODELS.get(config.model).fit_to_data
            if fit_to_data is not None:
                pick = np.random.default_rng(config.seed).permutation(len(x_train))[:FIT_SAMPLE]
                fit_to_data(model, x_train[np.sort(pick)])
            _compile(model, config, steps_per_epoch * config.epochs)
    if not (resume and (run_dir / PHASE1).exists()):
        _fit(model, config, run_dir, train_ds, val_ds, len(y_train), steps_per_epoch, 0, config.epochs, runs.BACKUP)

    if config.fine_tune_epochs:
        if MODELS.get(config.model).kind != "transfer":
            raise EdgeclsError(f"fine-tuning unfreezes a pretrained base; {config.model} has none")
        from edgecls.models.transfer import unfreeze

        if not (run_dir / PHASE1).exists():
            save_model(model, run_dir / PHASE1)
        with strategy.scope():
            n = unfreeze(model, config.unfreeze_last, config.unfreeze_from, config.unfreeze_fraction,
                         batchnorm=bool(config.model_options.get("train_batchnorm", False)))
            log(f"phase 2: {n} base layers trainable, learning rate {config.fine_tune_learning_rate:g}")
            _compile(model, config, steps_per_epoch * config.fine_tune_epochs, config.fine_tune_learning_rate)
        _fit(model, config, run_dir, train_ds, val_ds, len(y_train), steps_per_epoch, config.epochs,
             config.epochs + config.fine_tune_epochs, runs.BACKUP + "-phase2")

    model = as_float32(model)  # what is saved, evaluated and exported computes in float32 whatever trained it
    save_model(model, run_dir / runs.MODEL)
    eval_name = "test" if "test" in arrays else "val"
    x_eval, y_eval = arrays[eval_name]
    probs = model.predict(make_dataset(x_eval, y_eval, len(classes), 256), verbose=0)
    report = classification_report(y_eval, probs.argmax(axis=1), classes, probs)
    report["split"] = eval_name
    write_json(run_dir / runs.METRICS, report)
    log(format_report(report))
    return report


def resume(run_dir: str | Path) -> dict:
    """Continue an interrupted run from its own config."""
    info = runs.read_run(run_dir)
    return train(TrainConfig.from_dict(info.config), run_dir, info.command, resume=True)


def config_from(recipe: str | None, overrides: dict) -> TrainConfig:
    """A recipe's settings with the given (non-None) overrides on top."""
    from edgecls.train.recipes import recipe_settings

    settings = recipe_settings(recipe) if recipe else {}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    for required in ("model", "data"):
        if required not in settings:
            raise EdgeclsError(f"--{required} is required (or a --recipe that sets it)")
    return TrainConfig.from_dict(settings)
