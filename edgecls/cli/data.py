from __future__ import annotations

import json

import click

from edgecls.cli.options import class_map_option


@click.group()
def data():
    """Inspect datasets."""


@data.command()
@click.argument("source")
@class_map_option
@click.option("--test-fraction", default=0.2, show_default=True, type=float,
              help="Held out as test when the data has no test/ split.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def info(source, class_map, test_fraction, seed, as_json):
    """Counts per class and split, image size range and class balance of SOURCE."""
    from edgecls.data import DataOptions, load_dataset
    from edgecls.data.info import describe, format_info

    summary = describe(load_dataset(source, DataOptions(class_map, test_fraction, seed)))
    click.echo(json.dumps(summary, indent=2) if as_json else format_info(summary))
