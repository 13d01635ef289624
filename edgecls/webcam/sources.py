"""Frames from a camera, a stream or a video file, each read by a thread of its own.

Live sources (cameras, stream URLs, and video files paced with ``realtime=True``) keep only the newest frame:
a consumer slower than the source gets the latest one, and the frames it never saw are counted as dropped,
so it never falls behind. A video file otherwise gives every frame in order through a short queue, so
decoding the next frame overlaps classifying this one. Every wait has a timeout: a dead stream ends in a
:class:`SourceError`, never a hang.
"""

from __future__ import annotations

import collections
import dataclasses
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edgecls.errors import EdgeclsError
from edgecls.webcam import opencv

QUEUE_FRAMES = 4          # frames decoded ahead of the consumer for a video file read in order
DEFAULT_FPS = 30.0        # pacing and recording rate when a source does not say


class SourceError(EdgeclsError):
    """A source that cannot be opened, or failed while it was read; the message names it."""


class Frame(NamedTuple):
    number: int           # 1-based position in the source (gaps are frames a live source dropped)
    image: np.ndarray     # H x W x 3 uint8, BGR as OpenCV reads it


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    camera: int | None = None
    path: str | None = None        # a video file, or a stream URL (anything with ://)
    realtime: bool = False         # pace a video file to its frame rate and drop frames like a live source
    timeout: float = 10.0          # seconds to open a source, and to wait for the next frame

    def __post_init__(self):
        if (self.camera is None) == (self.path is None):
            raise EdgeclsError(f"give a camera or a path, not both or neither; received camera={self.camera!r}, "
                               f"path={self.path!r}")
        if self.path is not None and not self.path.strip():
            raise EdgeclsError("the source path is empty; pass a video file or a stream URL")
        if self.timeout <= 0:
            raise EdgeclsError(f"timeout must be positive; received {self.timeout!r}")

    @property
    def name(self) -> str:
        return f"camera {self.camera}" if self.camera is not None else str(self.path)

    @property
    def is_stream(self) -> bool:
        return self.path is not None and "://" in self.path

    @property
    def is_file(self) -> bool:
        return self.camera is None and not self.is_stream

    @property
    def live(self) -> bool:
        """Frames arrive on their own clock, so the newest replaces any the consumer has not taken yet."""
        return not self.is_file or self.realtime


def _open_capture(cv2, spec: SourceSpec):
    """An opened ``cv2.VideoCapture``, or a SourceError saying why there is none."""
    if spec.camera is not None:
        capture = cv2.VideoCapture(spec.camera)
        if not capture.isOpened():
            device = Path(f"/dev/video{spec.camera}")
            if sys.platform.startswith("linux") and not device.exists():
                raise SourceError(f"{spec.name}: not found ({device} does not exist); is it plugged in?")
            raise SourceError(f"{spec.name}: cannot be opened (in use by another program, or not a capture device)")
        return capture
    if spec.is_stream:
        ms = int(spec.timeout * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        capture = cv2.VideoCapture(spec.path, cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            raise SourceError(f"{spec.name}: cannot open the stream (unreachable, refused, or not a video stream; "
                              f"waited up to {spec.timeout:g} s)")
        return capture
    path = Path(spec.path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a folder, not a video")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"{path}: not a video OpenCV can read")
    return capture


class FrameSource:
    """Open with ``with FrameSource(spec) as source:``; ``read()`` returns the next :class:`Frame`, or None at
    the end of a video file, and raises SourceError when a live source fails or stalls."""

    def __init__(self, spec: SourceSpec):
        self.spec = spec
        self.fps: float | None = None          # the source's own frame rate, when it states one
        self.frames_read = 0                   # frames the capture thread decoded
        self.read_seconds = 0.0                # time it spent inside VideoCapture.read
        self.dropped = 0                       # frames replaced by a newer one before they were taken
        self._pending: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._opened = False
        self._end: SourceError | bool | None = None   # None while running; True at a clean end; or the failure
        self._thread = threading.Thread(target=self._run, name=f"edgecls-source {spec.name}", daemon=True)

    @property
    def capture_fps(self) -> float:
        """Frames per second of time spent reading: what capture alone sustains (a camera's own rate)."""
        return self.frames_read / self.read_seconds if self.read_seconds > 0 else 0.0

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Start the capture thread and wait until the source is open (or has failed)."""
        self._thread.start()
        # The open itself is bounded by the timeout for streams; a camera driver gets a little longer.
        wait = self.spec.timeout + 5.0
        with self._cond:
            if not self._cond.wait_for(lambda: self._opened or self._end is not None, wait):
                self._stop.set()
                raise SourceError(f"{self.spec.name}: did not open within {wait:g} s")
            if isinstance(self._end, SourceError) and not self._opened:
                raise self._end

    def read(self) -> Frame | None:
        deadline = time.monotonic() + self.spec.timeout
        with self._cond:
            while not self._pending and self._end is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SourceError(f"{self.spec.name}: no frame for {self.spec.timeout:g} s "
                                      "(the source stalled or was unplugged)")
                self._cond.wait(remaining)
            if self._pending:
                frame = self._pending.popleft()
                self._cond.notify_all()
                return frame
            if isinstance(self._end, SourceError):
                raise self._end
            return None

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            # A capture stuck inside a dead stream's read is left to the process exit (the thread is a daemon).
            self._thread.join(timeout=2.0)

    # The capture thread.

    def _run(self) -> None:
        capture = None
        end: SourceError | bool = True
        try:
            cv2 = opencv()
            capture = _open_capture(cv2, self.spec)
            fps = capture.get(cv2.CAP_PROP_FPS)
            self.fps = fps if 0 < fps < 1000 else None
            with self._cond:
                self._opened = True
                self._cond.notify_all()
            end = self._capture_loop(capture) or True
        except SourceError as exc:
            end = exc
        except Exception as exc:  # noqa: BLE001 - OpenCV raises cv2.error; it must reach the user as one line
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            end = SourceError(f"{self.spec.name}: {reason}")
        finally:
            if capture is not None:
                capture.release()
            with self._cond:
                self._end = end
                self._cond.notify_all()

    def _capture_loop(self, capture) -> SourceError | None:
        pace = self.spec.is_file and self.spec.realtime
        interval = 1.0 / (self.fps or DEFAULT_FPS)
        start = time.monotonic()
        number = 0
        while not self._stop.is_set():
            if pace and self._stop.wait(max(0.0, start + number * interval - time.monotonic())):
                break
            began = time.perf_counter()
            ok, image = capture.read()
            self.read_seconds += time.perf_counter() - began
            if not ok:
                return self._why_ended(number)
            number += 1
            self.frames_read = number
            self._publish(Frame(number, image))
        return None

    def _why_ended(self, frames: int) -> SourceError | None:
        if self.spec.is_file:
            return None if frames else SourceError(f"{self.spec.name}: no frame could be decoded")
        if self.spec.camera is not None:
            return SourceError(f"{self.spec.name}: stopped delivering frames after {frames} (unplugged?)")
        return SourceError(f"{self.spec.name}: the stream ended or was lost after {frames} frames")

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            if self.spec.live:
                self.dropped += len(self._pending)
                self._pending.clear()
            else:
                while len(self._pending) >= QUEUE_FRAMES and not self._stop.is_set():
                    self._cond.wait(0.1)
            self._pending.append(frame)
            self._cond.notify_all()
