"""``edgecls webcam``: headless predictions from a video, clean ends and one-line failures, recording, frame
dropping for live sources, smoothing, and the window under Xvfb."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import HAS_TF

ROOT = Path(__file__).resolve().parents[1]
DOG = ROOT / "examples" / "dog.jpg"
LABELS = ("blue", "green", "red")
LINE = re.compile(r"^frame (\d+): (\w+) (\d\.\d{3}) \(\d+\.\d+ ms\)$")


def cv2_or_skip():
    return pytest.importorskip("cv2", reason="needs OpenCV: pip install 'edgecls[webcam]'")


def write_video(path: Path, frames: int, fps: float = 30.0, size=(320, 240)) -> Path:
    """A pan across the example photo, one crop per frame, as MJPG in an .avi (OpenCV writes it everywhere)."""
    cv2 = cv2_or_skip()
    photo = cv2.cvtColor(np.asarray(Image.open(DOG).convert("RGB")), cv2.COLOR_RGB2BGR)
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        x, y = (i * 3) % (photo.shape[1] - w), (i * 2) % (photo.shape[0] - h)
        writer.write(np.ascontiguousarray(photo[y:y + h, x:x + w]))
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    cv2 = cv2_or_skip()
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> Path:
    """An untrained tiny-test model (24x24, labels blue/green/red): the loop's contract, not accuracy."""
    if not HAS_TF:
        pytest.skip("needs TensorFlow: pip install 'edgecls[train]'")
    from edgecls import metadata
    from edgecls.convert.converter import to_tflite
    from edgecls.convert.quantization import Quantization
    from edgecls.models import create_model

    flat = to_tflite(create_model("tiny-test", (24, 24, 3), 3), Quantization.for_float32())
    flat = metadata.attach(flat, metadata.ModelMetadata("tiny-test", list(LABELS), metadata.InputSpec(24, 24)))
    path = tmp_path_factory.mktemp("model") / "tiny.tflite"
    path.write_bytes(flat)
    return path


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {"long": write_video(folder / "long.avi", 60), "short": write_video(folder / "short.avi", 10)}


def webcam(model: Path, *args: str, env=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgecls", "webcam", "--model", str(model), *args],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})},
                          timeout=timeout)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("edgecls: error:")]


@pytest.mark.tf
def test_headless_prints_one_prediction_per_frame(model, videos):
    result = webcam(model, "--source", str(videos["long"]), "--headless", "--max-frames", "50")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert len(lines) == 50 and all(matches), lines[:3]
    assert [int(m[1]) for m in matches] == list(range(1, 51))  # every frame of a file, in order
    assert {m[2] for m in matches} <= set(LABELS)
    assert all(0.0 <= float(m[3]) <= 1.0 for m in matches)
    assert "stopped after 50 frames" in result.stderr
    assert re.search(r"50 frames processed, \d+ read \([\d.]+ FPS capture\).*50 classified \([\d.]+ FPS inference",
                     result.stderr)
    assert "Traceback" not in result.stderr


@pytest.mark.tf
def test_every_n_frames_and_top_k(model, videos):
    result = webcam(model, "--source", str(videos["short"]), "--headless", "--every", "3", "--top-k", "2")
    assert result.returncode == 0, result.stderr
    numbers = [int(line.split(":")[0].split()[1]) for line in result.stdout.splitlines()]
    assert numbers == [1, 4, 7, 10]
    assert all(line.count(",") == 1 for line in result.stdout.splitlines())


@pytest.mark.tf
def test_a_video_that_ends_early_exits_cleanly(model, videos):
    result = webcam(model, "--source", str(videos["short"]), "--headless", "--max-frames", "50")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 10
    assert "edgecls: end of video after 10 frames" in result.stderr.splitlines()
    assert not error_lines(result) and "Traceback" not in result.stderr


@pytest.mark.tf
def test_webcam_never_imports_tensorflow(model, videos):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "edgecls", "webcam", "--model", str(model),
                             "--source", str(videos["short"]), "--headless"], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "cv2" in imported  # the check itself works
    assert not {m for m in imported if m.split(".")[0] in ("tensorflow", "tf_keras", "keras")}


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers: a stream that hangs while opening."""
    server = socket.create_server(("127.0.0.1", 0))
    connections = []

    def accept_forever():
        try:
            while True:
                connections.append(server.accept()[0])
        except OSError:  # closed at the end of the test
            pass

    threading.Thread(target=accept_forever, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in connections:
        conn.close()


@pytest.mark.tf
@pytest.mark.parametrize("kind", ["missing file", "not a video", "refused rtsp", "silent http", "missing camera"])
def test_an_unopenable_source_fails_fast_in_one_line(model, tmp_path, silent_server, kind):
    text_file = tmp_path / "notes.mp4"
    text_file.write_text("not a video\n")
    source = {"missing file": ["--source", str(tmp_path / "missing.mp4")],
              "not a video": ["--source", str(text_file)],
              "refused rtsp": ["--source", "rtsp://127.0.0.1:9/none"],
              "silent http": ["--source", f"http://127.0.0.1:{silent_server}/video.mjpg"],
              "missing camera": ["--camera", "63"]}[kind]
    if kind == "missing camera" and Path("/dev/video63").exists():
        pytest.skip("this machine has a /dev/video63")
    start = time.monotonic()
    result = webcam(model, *source, "--headless", "--timeout", "1.5", timeout=30)
    assert time.monotonic() - start < 10
    assert result.returncode == 1, result.stderr
    assert len(error_lines(result)) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    message = error_lines(result)[0]
    assert (source[-1] if kind != "missing camera" else "camera 63") in message


class MjpegServer:
    """An HTTP multipart-JPEG stream (what IP cameras serve) that sends ``frames`` frames, then either closes
    the connection (the camera went away) or goes silent (the network did)."""

    def __init__(self, frames: int, then: str):
        self.frames, self.then = frames, then
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.release = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            self._stream()
        except OSError:  # the client gave up first, or the test ended
            pass

    def _stream(self):
        with self.server.accept()[0] as conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            for i in range(self.frames):
                pixels = np.zeros((120, 160, 3), np.uint8)
                pixels[:, (i * 7) % 160:] = (200, 40, 40)
                jpeg = io.BytesIO()
                Image.fromarray(pixels).save(jpeg, "JPEG")
                data = jpeg.getvalue()
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                             % (len(data), data))
                time.sleep(0.02)
            if self.then == "stall":
                self.release.wait(30)

    def close(self):
        self.release.set()
        self.server.close()


@pytest.mark.tf
@pytest.mark.parametrize("then, message", [("close", "the stream ended or was lost after 12 frames"),
                                           ("stall", "no frame for 1.5 s")])
def test_a_stream_lost_mid_way_fails_in_one_line(model, then, message):
    server = MjpegServer(12, then)
    try:
        start = time.monotonic()
        result = webcam(model, "--source", f"http://127.0.0.1:{server.port}/video.mjpg", "--headless",
                        "--timeout", "1.5", timeout=30)
        assert time.monotonic() - start < 12
    finally:
        server.close()
    assert result.returncode == 1, result.stderr
    # A live stream drops what the loop was too busy to take (here often frame 1, which arrives with frame 2
    # when the stream opens); the rest were classified, up to the last one.
    numbers = [int(LINE.match(line)[1]) for line in result.stdout.splitlines()]
    assert len(numbers) >= 6 and numbers == sorted(numbers) and numbers[-1] == 12
    assert len(error_lines(result)) == 1 and message in error_lines(result)[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.tf
def test_record_writes_the_annotated_stream(model, videos, tmp_path):
    out = tmp_path / "out.avi"
    result = webcam(model, "--source", str(videos["short"]), "--headless", "--top-k", "3", "--record", str(out))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["out.avi"]  # no temporary file left behind
    recorded, source = read_video(out), read_video(videos["short"])
    assert len(recorded) == len(source) == 10
    assert recorded[0].shape == source[0].shape
    # The panel in the top-left corner changed the picture there, and nowhere far from it.
    diff = np.abs(recorded[0].astype(int) - source[0].astype(int)).mean(axis=2)
    assert diff[:40, :120].mean() > 25
    assert diff[160:, 200:].mean() < 8


def test_record_refuses_a_format_it_cannot_write():
    from edgecls.errors import EdgeclsError
    from edgecls.webcam.loop import LoopOptions

    with pytest.raises(EdgeclsError, match=r"--record writes .*received 'out\.gif'"):
        LoopOptions(record="out.gif")


def test_smoothing_is_an_exponential_moving_average():
    from edgecls.webcam.loop import smooth

    first = np.array([0.2, 0.8], np.float32)
    assert np.array_equal(smooth(None, first, 0.3), first)
    assert np.allclose(smooth(first, np.array([1.0, 0.0]), 0.3), [0.3 * 1.0 + 0.7 * 0.2, 0.7 * 0.8])
    assert np.array_equal(smooth(first, np.array([1.0, 0.0]), 1.0), [1.0, 0.0])  # alpha 1: no smoothing
    # Noisy frames that alternate between two labels: the raw argmax flickers, the smoothed one holds.
    p = None
    winners = []
    for i in range(20):
        p = smooth(p, np.array([0.55, 0.45]) if i % 2 == 0 else np.array([0.48, 0.52]), 0.3)
        winners.append(int(np.argmax(p)))
    assert set(winners) == {0}
    # A real change still takes over within a few frames.
    for _ in range(5):
        p = smooth(p, np.array([0.1, 0.9]), 0.3)
    assert int(np.argmax(p)) == 1


def test_a_live_source_drops_frames_instead_of_falling_behind(tmp_path):
    from edgecls.webcam.sources import FrameSource, SourceSpec

    video = write_video(tmp_path / "fast.avi", 60, fps=100.0)
    start = time.monotonic()
    numbers = []
    with FrameSource(SourceSpec(path=str(video), realtime=True)) as source:
        while (frame := source.read()) is not None:
            numbers.append(frame.number)
            time.sleep(0.05)  # a model five times slower than the source
    elapsed = time.monotonic() - start
    assert numbers == sorted(numbers) and numbers[-1] == 60  # always the newest frame, up to the last
    assert len(numbers) < 45 and source.dropped == 60 - len(numbers)
    assert elapsed < 2.5  # 0.6 s of video; taking every frame would have taken 3 s


def test_a_video_file_gives_every_frame_in_order_to_a_slow_reader(tmp_path):
    from edgecls.webcam.sources import FrameSource, SourceSpec

    video = write_video(tmp_path / "short.avi", 12)
    with FrameSource(SourceSpec(path=str(video))) as source:
        numbers = []
        while (frame := source.read()) is not None:
            numbers.append(frame.number)
            time.sleep(0.01)
    assert numbers == list(range(1, 13)) and source.dropped == 0


def test_frames_are_prepared_like_photos(tmp_path):
    """The same picture as a frame and as a PNG file gives the model identical pixels."""
    cv2 = cv2_or_skip()
    from edgecls.data.images import load_image
    from edgecls.webcam.loop import frame_pixels

    rgb = np.asarray(Image.open(DOG).convert("RGB"))
    Image.fromarray(rgb).save(tmp_path / "dog.png")
    frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for fit in ("crop", "stretch"):
        assert np.array_equal(frame_pixels(frame, (32, 32), fit), load_image(tmp_path / "dog.png", (32, 32), fit))


def test_missing_opencv_names_the_extra(monkeypatch):
    from edgecls.errors import MissingExtraError
    from edgecls.webcam import opencv

    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'edgecls\[webcam\]'"):
        opencv()


def test_no_display_is_reported_before_qt_can_abort(monkeypatch):
    from edgecls.webcam.loop import display_problem

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    assert display_problem() == "DISPLAY is not set"
    monkeypatch.setenv("DISPLAY", ":4321")
    assert "no X server answers" in display_problem()


@pytest.mark.tf
def test_window_mode_without_a_display_fails_in_one_line(model, videos):
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run([sys.executable, "-m", "edgecls", "webcam", "--model", str(model), "--source",
                             str(videos["short"])], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 1
    assert error_lines(result) == ["edgecls: error: window mode needs a display (DISPLAY is not set); pass --headless"]


@pytest.fixture
def xvfb():
    """A private X server; its display name."""
    if not shutil.which("Xvfb"):
        pytest.skip("window mode needs Xvfb (apt-get install xvfb)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def overlay_pixels(image: np.ndarray, tolerance: int = 0) -> int:
    """How many pixels have the colour of the overlay's probability bars (BGR image)."""
    from edgecls.webcam.overlay import BAR_COLOUR

    return int((np.abs(image.astype(int) - np.array(BAR_COLOUR)) <= tolerance).all(axis=-1).sum())


@pytest.mark.tf
def test_window_mode_draws_the_overlay_under_xvfb(model, xvfb, tmp_path):
    """The window shows the frames with the overlay (seen on a screenshot of the X screen) until q quits it."""
    video = write_video(tmp_path / "window.avi", 900, size=(160, 120))  # 30 s at 30 FPS, the look deadline
    record = tmp_path / "shown.avi"
    env = {**os.environ, "DISPLAY": xvfb}
    command = [sys.executable, "-m", "edgecls", "webcam", "--model", str(model), "--source", str(video),
               "--realtime", "--top-k", "3", "--record", str(record)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        best, screenshot, deadline = 0, tmp_path / "screen.png", time.monotonic() + 30
        while shutil.which("import") and best < 200 and process.poll() is None and time.monotonic() < deadline:
            screenshot.unlink(missing_ok=True)
            subprocess.run(["import", "-window", "root", str(screenshot)], env=env, capture_output=True, timeout=20)
            if screenshot.exists():
                best = max(best, overlay_pixels(np.asarray(Image.open(screenshot).convert("RGB"))[..., ::-1]))
            time.sleep(0.1)
        assert process.poll() is None, "the window closed before it could be seen"
        if shutil.which("xdotool"):  # press q in the window, as a user would
            subprocess.run(["xdotool", "search", "--name", "^edgecls$", "windowfocus", "key", "q"], env=env,
                           capture_output=True, timeout=20)
        else:
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert stdout == ""  # the window replaces the per-frame lines
    if shutil.which("xdotool"):
        assert process.returncode == 0 and "edgecls: quit from the window" in stderr, stderr
    else:
        assert process.returncode == 130 and "edgecls: interrupted" in stderr, stderr
    assert "Traceback" not in stderr
    if shutil.which("import"):
        assert best >= 200, "no overlay bars on any screenshot of the window"
    # What the window showed was recorded too (MJPG is lossy, so the colour is matched loosely).
    shown = read_video(record)
    assert shown and np.mean([overlay_pixels(frame, 40) for frame in shown]) >= 200
