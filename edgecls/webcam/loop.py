"""The live loop: take frames from a source, classify every N-th, smooth, then print, show and record.

Frames are prepared exactly as ``edgecls classify`` prepares a photo (RGB, then
:func:`edgecls.data.images.fit_size` with the model's own size and fit), so a frame and the same picture
saved as a file get the same answer.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import socket
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from edgecls.data.images import fit_size
from edgecls.errors import EdgeclsError
from edgecls.runtime import Category, Classifier
from edgecls.webcam import opencv, overlay
from edgecls.webcam.sources import DEFAULT_FPS, FrameSource, SourceError

FOURCC = {".avi": "MJPG", ".mkv": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v"}
QUIT_KEYS = (ord("q"), ord("Q"), 27)  # 27 is Esc


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    top_k: int = 1
    every: int = 1                  # classify every N-th frame; the others show the last result
    smooth: float = 0.5             # weight of the newest probabilities; 1.0 turns smoothing off
    headless: bool = False          # print one line per classified frame instead of opening a window
    record: str | None = None       # write the annotated frames to this video (.avi, .mp4, ...)
    max_frames: int | None = None   # stop after this many frames from the source
    title: str = "edgecls"

    def __post_init__(self):
        if self.top_k < 1 or self.every < 1 or (self.max_frames is not None and self.max_frames < 1):
            raise EdgeclsError(f"top_k, every and max_frames must be at least 1; received top_k={self.top_k}, "
                               f"every={self.every}, max_frames={self.max_frames}")
        if not 0.0 < self.smooth <= 1.0:
            raise EdgeclsError(f"smooth must be in (0, 1]; received {self.smooth!r}")
        if self.record and Path(self.record).suffix.lower() not in FOURCC:
            raise EdgeclsError(f"--record writes {', '.join(FOURCC)} files; received {self.record!r}")


@dataclasses.dataclass
class Stats:
    frames: int = 0                 # frames taken from the source and processed
    classified: int = 0
    frames_read: int = 0            # frames the capture thread decoded (more than `frames` when it dropped some)
    dropped: int = 0
    capture_fps: float = 0.0
    model_seconds: float = 0.0      # inside the interpreter
    prepare_seconds: float = 0.0    # colour conversion and resizing
    elapsed: float = 0.0
    ended: bool = False             # a video file reached its end
    stopped_by: str = ""            # "max-frames", "window" or "interrupt"
    error: SourceError | None = None

    @property
    def inference_fps(self) -> float:
        return self.classified / self.model_seconds if self.model_seconds > 0 else 0.0

    @property
    def end_to_end_fps(self) -> float:
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0

    def report(self) -> list[str]:
        """What happened, for stderr: how the run ended, then the rates."""
        lines = []
        if self.ended:
            lines.append(f"end of video after {self.frames_read} frames")
        elif self.stopped_by == "max-frames":
            lines.append(f"stopped after {self.frames} frames (--max-frames)")
        elif self.stopped_by == "window":
            lines.append("quit from the window")
        ms = 1000.0 * self.model_seconds / self.classified if self.classified else 0.0
        prep = 1000.0 * self.prepare_seconds / self.classified if self.classified else 0.0
        lines.append(f"{self.frames} frames processed, {self.frames_read} read ({self.capture_fps:.1f} FPS capture), "
                     f"{self.dropped} dropped, {self.classified} classified ({self.inference_fps:.1f} FPS inference: "
                     f"{ms:.2f} ms model + {prep:.2f} ms preprocessing), {self.end_to_end_fps:.1f} FPS end to end")
        return lines


def smooth(previous: np.ndarray | None, new: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average of probabilities, ``alpha * new + (1 - alpha) * previous``: a label must
    win for several frames before it takes over, so it does not flicker. The first frame starts the average."""
    new = np.asarray(new, dtype=np.float32)
    if previous is None:
        return new.copy()
    return alpha * new + (1.0 - alpha) * previous


def top_categories(probabilities: np.ndarray, labels: list[str], k: int) -> list[Category]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [Category(labels[i], float(probabilities[i])) for i in order]


def frame_pixels(image: np.ndarray, size: tuple[int, int], fit: str) -> np.ndarray:
    """An OpenCV frame (BGR) as the model's H x W x 3 RGB input, prepared like a photo in ``classify``."""
    cv2 = opencv()
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.asarray(fit_size(Image.fromarray(rgb), size, fit), dtype=np.uint8)


def headless_line(number: int, top: list[Category], ms: float) -> str:
    return f"frame {number}: " + ", ".join(f"{c.label} {c.score:.3f}" for c in top) + f" ({ms:.2f} ms)"


class RateMeter:
    """Frames per second over the last ``window`` frames."""

    def __init__(self, window: int = 30):
        self._times: collections.deque[float] = collections.deque(maxlen=window)

    def tick(self) -> float:
        self._times.append(time.perf_counter())
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


def display_problem() -> str | None:
    """Why a window cannot open here, or None. OpenCV's Qt aborts the whole process without a display, so on
    Linux check first that DISPLAY names an X server that answers."""
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY", "")
    if not display:
        return "DISPLAY is not set"
    host, _, number = display.rpartition(":")
    number = number.split(".")[0]
    if not number.isdigit():
        return f"DISPLAY={display!r} is not an X display name"
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1.0)
                try:
                    sock.connect(f"/tmp/.X11-unix/X{number}")
                except OSError:
                    sock.connect(f"\0/tmp/.X11-unix/X{number}")  # the abstract socket Xorg also listens on
        else:
            socket.create_connection((host, 6000 + int(number)), timeout=1.0).close()
    except OSError:
        return f"no X server answers at DISPLAY={display}"
    return None


class Window:
    def __init__(self, title: str):
        problem = display_problem()
        if problem:
            raise EdgeclsError(f"window mode needs a display ({problem}); pass --headless")
        self.cv2, self.title = opencv(), title
        try:
            self.cv2.namedWindow(title, self.cv2.WINDOW_AUTOSIZE | self.cv2.WINDOW_GUI_NORMAL)  # no Qt toolbar
        except self.cv2.error:
            raise EdgeclsError("this OpenCV has no window support (opencv-python-headless?); pass --headless "
                               "or install opencv-python") from None

    def show(self, image: np.ndarray) -> bool:
        """Show a frame; False once the user pressed q or Esc, or closed the window."""
        self.cv2.imshow(self.title, image)
        if self.cv2.waitKey(1) & 0xFF in QUIT_KEYS:
            return False
        try:
            return self.cv2.getWindowProperty(self.title, self.cv2.WND_PROP_VISIBLE) >= 1
        except self.cv2.error:
            return False

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
            self.cv2.waitKey(1)
        except self.cv2.error:
            pass


class Recorder:
    """Annotated frames to a video, written to a temporary file beside ``path`` and renamed into place when
    closed, so ``path`` is never a half-written video."""

    def __init__(self, path: str, fps: float | None):
        self.path = Path(path)
        self.fps = fps or DEFAULT_FPS
        self.frames = 0
        self._writer = None
        self._temp: Path | None = None

    def write(self, image: np.ndarray) -> None:
        if self._writer is None:
            self._open(image.shape[1], image.shape[0])
        self._writer.write(image)
        self.frames += 1

    def _open(self, width: int, height: int) -> None:
        cv2 = opencv()
        suffix = self.path.suffix.lower()
        self._temp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.partial{suffix}")
        if not self.path.parent.is_dir():
            raise EdgeclsError(f"{self.path}: cannot write here (no folder {self.path.parent})")
        temp = str(self._temp)
        self._writer = cv2.VideoWriter(temp, cv2.VideoWriter_fourcc(*FOURCC[suffix]), self.fps, (width, height))
        if not self._writer.isOpened():
            raise EdgeclsError(f"{self.path}: OpenCV cannot write {FOURCC[suffix]} video; try a .avi file")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
        if self._temp is not None:
            if self.frames:
                os.replace(self._temp, self.path)
            else:
                self._temp.unlink(missing_ok=True)


def run(classifier: Classifier, source: FrameSource, options: LoopOptions,
        emit: Callable[[str], None] = print) -> Stats:
    """Classify frames from an opened ``source`` until it ends, fails, ``max_frames`` is reached, or the user
    quits. A failing source ends the loop with ``stats.error`` set, after the recording is saved."""
    stats = Stats()
    window = None if options.headless else Window(options.title)
    recorder = Recorder(options.record, source.fps) if options.record else None
    meter = RateMeter()
    probabilities, top, ms = None, [], None
    start = time.perf_counter()
    try:
        while options.max_frames is None or stats.frames < options.max_frames:
            frame = source.read()
            if frame is None:
                stats.ended = True
                break
            stats.frames += 1
            if (stats.frames - 1) % options.every == 0:
                began = time.perf_counter()
                pixels = frame_pixels(frame.image, classifier.size, classifier.meta.input.fit)
                stats.prepare_seconds += time.perf_counter() - began
                new, ms = classifier.probabilities(pixels)
                stats.model_seconds += ms / 1000.0
                stats.classified += 1
                probabilities = smooth(probabilities, new, options.smooth)
                top = top_categories(probabilities, classifier.labels, options.top_k)
                if options.headless:
                    emit(headless_line(frame.number, top, ms))
            fps = meter.tick()
            if window or recorder:
                annotated = overlay.draw(frame.image, top, fps, ms)
                if recorder:
                    recorder.write(annotated)
                if window and not window.show(annotated):
                    stats.stopped_by = "window"
                    break
        else:
            stats.stopped_by = "max-frames"
    except SourceError as exc:
        stats.error = exc
    except KeyboardInterrupt:
        stats.stopped_by = "interrupt"
    finally:
        stats.elapsed = time.perf_counter() - start
        stats.frames_read, stats.dropped, stats.capture_fps = source.frames_read, source.dropped, source.capture_fps
        if window:
            window.close()
        if recorder:
            recorder.close()
    return stats
