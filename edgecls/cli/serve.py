"""``edgecls serve``: a web page and a JSON API that classify uploaded photos (the [serve] extra)."""

from __future__ import annotations

import signal

import click

from edgecls.errors import EdgeclsError


def _size(ctx, param, value):
    from edgecls.serve.app import parse_size

    try:
        return parse_size(value)
    except EdgeclsError as exc:
        raise click.BadParameter(str(exc)) from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (systemd, docker stop) stops as cleanly as Ctrl-C


@click.command()
@click.option("--model", type=click.Path(dir_okay=False), help="A .tflite model (default: the bundled one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every network).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--threads", type=click.IntRange(1), help="Threads per interpreter (default: the runtime's choice).")
@click.option("--workers", type=click.IntRange(1), help="Interpreters classifying at once [default: min(4, CPUs)].")
@click.option("--max-upload", default="10MB", show_default=True, callback=_size, metavar="SIZE",
              help="Largest request body, like 10MB or 512K; larger uploads get 413.")
@click.option("--quiet", is_flag=True, help="No access log on stderr.")
def serve(model, host, port, threads, workers, max_upload, quiet):
    """Serve a page (choose, drop or photograph an image; see the top labels) and a JSON API: POST /api/classify,
    GET /api/model, GET /healthz, /openapi.json. Ctrl-C stops."""
    from edgecls.serve import ServeOptions, make_server

    server = make_server(ServeOptions(model, host, port, threads, workers, max_upload, quiet))
    click.echo(f"edgecls: serving {server.app.name} at {server.url} (Ctrl-C stops)")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where a parent shell ignores SIGINT
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("edgecls: stopped", err=True)
    finally:
        server.server_close()
