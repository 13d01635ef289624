from __future__ import annotations

import json

import click


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def inspect(model, as_json):
    """Inputs and outputs with dtypes and quantization, operator counts, metadata and size of a .tflite file."""
    from edgecls.runtime.inspect import format_inspection, inspect_model

    info = inspect_model(model)
    click.echo(json.dumps(info, indent=2) if as_json else format_inspection(info))
