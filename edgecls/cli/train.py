from __future__ import annotations

import shlex
import sys

import click

from edgecls.cli.options import class_map_option, key_value
from edgecls.train.config import AUGMENTATIONS, DISTRIBUTE, FLIPS, OPTIMIZERS, PRECISIONS, SCHEDULES


def _model_options(ctx, param, values) -> dict | None:
    try:
        return dict(key_value(item) for item in values) or None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--recipe", help="A named recipe (see `edgecls recipes list`) or a .toml file; other options override it.")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False),
              help="Continue an interrupted run folder from its last completed epoch.")
@click.option("--model", "model", help="A registered model (see `edgecls models list`).")
@click.option("--model-option", "model_options", multiple=True, callback=_model_options, metavar="KEY=VALUE",
              help="Builder option, e.g. weights=none, head=conv, alpha=0.35 (repeatable).")
@click.option("--data", "data", metavar="SOURCE",
              help="cifar10 | cifar100 | cifar10:PATH | a class-folder dataset (folder, .zip, .tar.gz).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Run folder to write.")
@click.option("--epochs", type=click.IntRange(1), help="[30] Epochs (phase 1 for transfer models).")
@click.option("--batch-size", type=click.IntRange(1), help="[128]")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="[adam]")
@click.option("--lr", "learning_rate", type=float, help="[1e-3] (Peak) learning rate.")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), help="[0.9] Nesterov momentum of sgd.")
@click.option("--schedule", type=click.Choice(SCHEDULES),
              help="[constant] onecycle: linear warm-up, then cosine; linear: airbench's, linear both ways.")
@click.option("--warmup-fraction", type=click.FloatRange(0, 1), help="[0.25] Share of the steps rising to the peak.")
@click.option("--weight-decay", type=float, help="[0]")
@click.option("--label-smoothing", type=float, help="[0]")
@click.option("--augment", type=click.Choice(AUGMENTATIONS), help="[none]")
@click.option("--crop-pixels", type=click.IntRange(1), help="[1/8 of the side] Largest shift of the random crop.")
@click.option("--flips", type=click.Choice(FLIPS),
              help="[random] alternate: airbench's flips, each image's side switching every epoch.")
@click.option("--lookahead/--no-lookahead", default=None,
              help="[off] airbench's Lookahead weight averaging over the last 70% of the steps.")
@click.option("--whiten-bias-epochs", type=click.IntRange(0),
              help="[0] Train the bias of airnet-w's frozen whitening stem for the first N epochs (airbench: 3).")
@click.option("--input-size", type=click.IntRange(8), help="Square input side (default: the data's own, or 32).")
@click.option("--val-fraction", type=float, help="[0.1] Held out of train when the data has no val/ split.")
@click.option("--limit", type=click.IntRange(1), help="Use at most N training images.")
@click.option("--fine-tune-epochs", type=click.IntRange(0), help="[0] Phase 2 epochs with part of the base unfrozen.")
@click.option("--fine-tune-lr", "fine_tune_learning_rate", type=float, help="[1e-5] Phase 2 learning rate.")
@click.option("--unfreeze-last", type=click.IntRange(1), help="Phase 2 unfreezes the last N base layers ...")
@click.option("--unfreeze-from", help="... or the base from this layer name on ...")
@click.option("--unfreeze-fraction", type=click.FloatRange(0, 1), help="... or the top fraction of the base.")
@click.option("--distribute", type=click.Choice(DISTRIBUTE), help="[auto] MirroredStrategy over several GPUs.")
@click.option("--precision", type=click.Choice(PRECISIONS),
              help="[auto] Compute type: auto is float16 on a GPU, float32 on a CPU; bfloat16 trained resnet9-s 1.7x as "
                   "fast on an AVX512_BF16 CPU (bench/precision.py). The saved model is float32 either way.")
@click.option("--deterministic/--no-deterministic", default=None, help="Deterministic TensorFlow ops.")
@click.option("--seed", type=int, help="[0]")
@class_map_option
def train(recipe, resume_dir, out, **options):
    """Train a model into a run folder: model.keras, checkpoint.keras, history.csv, metrics.json, config.json.

    Bracketed values are the defaults when neither the option nor the recipe sets them."""
    from edgecls.train.trainer import config_from, resume, train as run

    if resume_dir:
        resume(resume_dir)
        return
    if not out:
        raise click.UsageError("--out is required (or --resume RUN_DIR)")
    if options["class_map"] == "auto":
        options["class_map"] = None
    run(config_from(recipe, options), out, command=shlex.join(["edgecls", *sys.argv[1:]]))
