from __future__ import annotations

import json

import click


@click.group()
def recipes():
    """Named training recipes."""


@recipes.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json):
    """Every shipped recipe with its model and description."""
    from edgecls.train.recipes import read_recipe, recipe_names

    rows = [read_recipe(name) for name in recipe_names()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['recipe']:<28} {r.get('model', ''):<16} {r.get('description', '')}")


@recipes.command("show")
@click.argument("name")
def show(name):
    """The settings of one recipe, as TOML-like lines."""
    from edgecls.train.recipes import read_recipe

    for key, value in read_recipe(name).items():
        click.echo(f"{key} = {json.dumps(value)}")
