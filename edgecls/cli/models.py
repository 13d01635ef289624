from __future__ import annotations

import json

import click


@click.group()
def models():
    """List the registered model architectures."""


@models.command("list")
@click.argument("pattern", default="*")
@click.option("--json", "as_json", is_flag=True, help="With parameter counts (builds every model).")
def list_(pattern, as_json):
    """Registered models matching PATTERN; --json counts parameters for 32x32x3 inputs and 10 classes
    (transfer models with weights=none)."""
    from edgecls.models import create_model, list_models

    rows = []
    for entry in list_models(pattern):
        row = {"name": entry.name, "kind": entry.kind, "source": entry.summary}
        if as_json:
            # Parameter counts do not depend on the weights: never download them just to count.
            options = {"weights": "none"} if entry.kind == "transfer" else {}
            model = create_model(entry.name, **options)
            trainable = sum(int(w.shape.num_elements()) for w in model.trainable_weights)
            row.update(params=int(model.count_params()), trainable_params=trainable)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            click.echo(f"{row['name']:<16} {row['kind']:<9} {row['source']}")
