from __future__ import annotations

import click

from edgecls.cli.options import class_map_option, data_option
from edgecls.train.config import AUGMENTATIONS, OPTIMIZERS, SCHEDULES


@click.command()
@click.option("--model", "model", required=True, help="A registered model (see `edgecls models list`).")
@data_option
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run folder to write.")
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(1))
@click.option("--optimizer", default="adam", show_default=True, type=click.Choice(OPTIMIZERS))
@click.option("--lr", "learning_rate", default=1e-3, show_default=True, type=float, help="(Peak) learning rate.")
@click.option("--schedule", default="constant", show_default=True, type=click.Choice(SCHEDULES))
@click.option("--weight-decay", default=0.0, show_default=True, type=float)
@click.option("--label-smoothing", default=0.0, show_default=True, type=float)
@click.option("--augment", default="none", show_default=True, type=click.Choice(AUGMENTATIONS))
@click.option("--input-size", type=click.IntRange(8), help="Square input side (default: the data's own, or 32).")
@click.option("--val-fraction", default=0.1, show_default=True, type=float)
@click.option("--limit", type=click.IntRange(1), help="Use at most N training images.")
@click.option("--seed", default=0, show_default=True, type=int)
@class_map_option
def train(out, **options):
    """Train a registered model on a dataset into a run folder (model.keras, history.csv, metrics.json, config.json)."""
    from edgecls.train.config import TrainConfig
    from edgecls.train.trainer import train as run

    run(TrainConfig(**options), out)
