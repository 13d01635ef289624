"""``edgecls webcam``: classify a camera, a stream or a video file live."""

from __future__ import annotations

import functools

import click


@click.command()
@click.option("--model", type=click.Path(dir_okay=False), help="A .tflite model (default: the bundled one).")
@click.option("--camera", type=click.IntRange(0), help="Camera index (the default source is camera 0).")
@click.option("--source", metavar="FILE|URL", help="A video file (every frame, in order) or a stream URL "
              "(rtsp://, http://...).")
@click.option("--top-k", default=1, show_default=True, type=click.IntRange(1), help="Labels to show per frame.")
@click.option("--threads", type=click.IntRange(1), help="Interpreter threads (default: the runtime's choice).")
@click.option("--every", default=1, show_default=True, type=click.IntRange(1), help="Classify every N-th frame.")
@click.option("--smooth", default=0.5, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              metavar="ALPHA", help="Weight of the newest probabilities in their moving average (1: no smoothing).")
@click.option("--headless", is_flag=True, help="No window: print one line per classified frame.")
@click.option("--record", type=click.Path(dir_okay=False), metavar="OUT.avi|OUT.mp4",
              help="Write the annotated frames to a video.")
@click.option("--max-frames", type=click.IntRange(1), help="Stop after N frames.")
@click.option("--realtime", is_flag=True, help="Pace a video file to its frame rate, dropping frames like a camera.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0, min_open=True),
              metavar="SECONDS", help="Give up on a source that does not open or send a frame for this long.")
@click.pass_context
def webcam(ctx, model, camera, source, top_k, threads, every, smooth, headless, record, max_frames, realtime,
           timeout):
    """Classify live frames with the same preprocessing and model code as `classify`: a window with the top-k
    labels, FPS and inference ms (q or Esc quits), or with --headless one line per frame. Rates go to stderr."""
    if camera is not None and source is not None:
        raise click.UsageError("pass --camera or --source, not both")
    from edgecls.runtime import Classifier, default_model_path
    from edgecls.webcam import opencv
    from edgecls.webcam.loop import LoopOptions, run
    from edgecls.webcam.sources import FrameSource, SourceSpec

    opencv(quiet=not (ctx.find_root().obj or {}).get("debug"))
    options = LoopOptions(top_k, every, smooth, headless, record, max_frames)
    spec = SourceSpec(camera=None if source is not None else camera or 0, path=source, realtime=realtime,
                      timeout=timeout)
    if realtime and not spec.is_file:
        raise click.UsageError("--realtime paces a video file; cameras and streams are real time already")
    classifier = Classifier(model or default_model_path(), threads)
    with FrameSource(spec) as frames:
        stats = run(classifier, frames, options, functools.partial(print, flush=True))
    for line in stats.report():
        click.echo(f"edgecls: {line}", err=True)
    if stats.error:
        raise stats.error
    if stats.stopped_by == "interrupt":
        raise click.exceptions.Abort()
