"""Benchmark of ``edgecls webcam --headless`` on a video file: capture, inference and end-to-end FPS.

    python bench/webcam_fps.py [--model M.tflite] [--frames 300] [--size 640x480] [--threads N] [--runs 3]

Writes a video of ``--frames`` frames (a pan across examples/dog.jpg, MJPG at 30 FPS, the size of a common
webcam) to a temporary folder, then runs the same loop as the command, headless, reading every frame in order.
Capture FPS is decoding alone (frames per second spent inside VideoCapture.read, on its own thread); inference
FPS is the interpreter alone; end to end is frames per second of wall time, preprocessing and all. The lines
the command would print are discarded, so the terminal is not what is measured. A benchmark, not a test: it
reports numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
from statistics import median
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from edgecls.runtime import Classifier, default_model_path
from edgecls.webcam import opencv
from edgecls.webcam.loop import LoopOptions, Stats, run
from edgecls.webcam.sources import FrameSource, SourceSpec

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "dog.jpg"


def write_video(path: Path, frames: int, size: tuple[int, int], fps: float = 30.0) -> Path:
    cv2 = opencv()
    w, h = size
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    # Scale the photo up so a window of the video's size can pan across it.
    scale = max(w / photo.shape[1], h / photo.shape[0]) * 1.5
    photo = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), None, fx=scale, fy=scale)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        x = (i * 2) % (photo.shape[1] - w)
        y = (i * 1) % (photo.shape[0] - h)
        writer.write(np.ascontiguousarray(photo[y:y + h, x:x + w]))
    writer.release()
    return path


def measure(model: Path, video: Path, threads: int | None) -> Stats:
    classifier = Classifier(model, threads)
    with FrameSource(SourceSpec(path=str(video))) as source:
        return run(classifier, source, LoopOptions(headless=True), emit=lambda line: None)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a .tflite model (default: the bundled one)")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="640x480", help="video width x height")
    parser.add_argument("--threads", type=int, help="interpreter threads (default: the runtime's choice)")
    parser.add_argument("--runs", type=int, default=3, help="runs over the video; the median is reported")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    model = args.model or default_model_path()

    with tempfile.TemporaryDirectory() as tmp:
        video = write_video(Path(tmp) / "bench.avi", args.frames, size)
        runs = [measure(model, video, args.threads) for _ in range(args.runs)]

    print(f"model {model.name}, video {args.frames} frames {size[0]}x{size[1]} MJPG, "
          f"threads {args.threads or 'default'}, {args.runs} runs (median), {os.cpu_count()} CPUs, "
          f"python {sys.version.split()[0]}")
    print(f"  frames read / classified: {runs[0].frames_read} / {runs[0].classified}")
    print(f"  capture FPS (decode):     {median([s.capture_fps for s in runs]):8.1f}")
    print(f"  inference FPS (model):    {median([s.inference_fps for s in runs]):8.1f}   "
          f"({median([1000 * s.model_seconds / s.classified for s in runs]):.2f} ms)")
    print(f"  preprocessing:            {median([1000 * s.prepare_seconds / s.classified for s in runs]):8.2f} ms")
    print(f"  end-to-end FPS:           {median([s.end_to_end_fps for s in runs]):8.1f}")


if __name__ == "__main__":
    main()
