"""Options several commands share."""

from __future__ import annotations

import json

import click

data_option = click.option(
    "--data", "data", required=True, metavar="SOURCE",
    help="cifar10 | cifar100 (downloaded once), cifar10:PATH (local archive or folder), "
         "or a class-folder dataset: folder, .zip, .tar(.gz).")
class_map_option = click.option(
    "--class-map", default="auto", show_default=True, metavar="auto|none|animals10|FILE.json",
    help="Rename class folders (auto: Animals-10's Italian names become English).")


def key_value(item: str) -> tuple[str, object]:
    """``KEY=VALUE`` with the value read as JSON where it parses (numbers, lists, true/false/null), else as text."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE; received {item!r}")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw
