"""The ``edgecls`` command. Subcommands load lazily, so ``edgecls --help`` and ``edgecls classify`` never
import TensorFlow; errors print as one line unless ``--debug`` is given."""

from __future__ import annotations

import importlib
import sys

import click

from edgecls import __version__
from edgecls.errors import EdgeclsError, ExitCode

COMMANDS = {
    "classify": ("edgecls.cli.classify", "classify", "Classify photos with a .tflite model (the bundled one by default)."),
    "data": ("edgecls.cli.data", "data", "Inspect datasets."),
    "inspect": ("edgecls.cli.inspect", "inspect", "Show a .tflite file's tensors, operators and metadata."),
    "models": ("edgecls.cli.models", "models", "List the registered model architectures."),
    "recipes": ("edgecls.cli.recipes", "recipes", "List and show the named training recipes."),
    "train": ("edgecls.cli.train", "train", "Train a registered model on a dataset (or a recipe)."),
    "convert": ("edgecls.cli.convert", "convert", "Convert a trained model to TFLite formats."),
    "evaluate": ("edgecls.cli.evaluate", "evaluate", "Score a .tflite, .keras or run folder on a dataset."),
    "bench": ("edgecls.cli.bench", "bench", "Measure latency, memory and top-1 of models on this machine."),
    "report": ("edgecls.cli.bench", "report", "Merge bench results from several devices into one table and plot."),
    "webcam": ("edgecls.cli.webcam", "webcam", "Classify a camera, stream or video file live (the [webcam] extra)."),
    "serve": ("edgecls.cli.serve", "serve", "Serve a page and a JSON API that classify uploaded photos."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        # Show one-line help without importing every subcommand module.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name is not None and name not in COMMANDS and not name.startswith("-"):
            from edgecls.registry import unknown_name

            raise click.UsageError(unknown_name("command", name, list(COMMANDS)))
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgecls")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.pass_context
def cli(ctx, debug):
    """edgecls: train an image classifier, quantize it for the edge, and measure what it costs."""
    ctx.obj = {"debug": debug}


def main(argv=None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="edgecls", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("edgecls: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except EdgeclsError as exc:
        if debug:
            raise
        click.echo(f"edgecls: error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        click.echo("edgecls: interrupted", err=True)
        sys.exit(130)
    sys.exit(int(code or ExitCode.OK))
