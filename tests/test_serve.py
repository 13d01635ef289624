"""``edgecls serve`` as a real process on 127.0.0.1, no mocks: the API, the page's files, every kind of bad upload,
parallel clients, and a clean stop on Ctrl-C."""

from __future__ import annotations

import http.client
import io
import json
import queue
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgecls.runtime import Classifier, default_model_path

ROOT = Path(__file__).resolve().parents[1]
DOG = ROOT / "examples" / "dog.jpg"


class ServerProcess:
    """``python -m edgecls serve --port 0 ARGS`` with its log in ``log``; the URL comes from its first line."""

    def __init__(self, *args: str, log: Path, timeout: float = 120):
        self.log = log
        with open(log, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "edgecls", "serve", "--port", "0", *args], cwd=ROOT,
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=timeout)
        except queue.Empty:
            first = ""
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"edgecls serve did not start: {first!r}\n{log.read_text()}")
        self.port = int(match[1])
        self.url = match[0]

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        status, response_headers, data = self.request(method, path, body, headers)
        assert response_headers["Content-Type"] == "application/json", data[:200]
        return status, json.loads(data)

    def classify(self, data: bytes, filename: str = "photo.jpg", **fields: str):
        body, content_type = multipart({"image": (filename, data), **fields})
        return self.json("POST", "/api/classify", body, {"Content-Type": content_type})

    def stop(self) -> int:
        """Ctrl-C, as a person at the terminal would; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode


def multipart(fields: dict[str, str | tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it: text fields, and files as (filename, bytes)."""
    # fixed, not random as a browser's: parametrized tests' ids hold it, and pytest-xdist's workers must agree on them
    boundary = "----edgeclsFormBoundary7MA4YWxkTrZu0gW"
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f"--{boundary}\r\n".encode())
        if isinstance(value, tuple):
            out.write(f'Content-Disposition: form-data; name="{name}"; filename="{value[0]}"\r\n'.encode())
            out.write(b"Content-Type: application/octet-stream\r\n\r\n" + value[1] + b"\r\n")
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(log=tmp_path_factory.mktemp("serve") / "server.log")
    yield process
    assert process.stop() == 0, process.log.read_text()


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    """The example photo and synthetic images, which the bundled model labels differently from it."""
    rng = np.random.default_rng(0)
    images = {"dog.jpg": DOG.read_bytes(), "noise.png": png(rng.integers(0, 255, (64, 48, 3), dtype=np.uint8))}
    for name, rgb in {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 210)}.items():
        images[f"{name}.png"] = png(np.full((40, 40, 3), rgb, np.uint8))
    return images


@pytest.fixture(scope="module")
def expected(photos) -> dict[str, list[tuple[str, float]]]:
    """What the library itself says, in this process: the server must say exactly the same."""
    classifier = Classifier(default_model_path())
    return {name: [(c.label, c.score) for c in classifier.classify(data, 5).top] for name, data in photos.items()}


def assert_same(top: list[dict], want: list[tuple[str, float]]):
    assert [c["label"] for c in top] == [label for label, _ in want[:len(top)]]
    assert [c["score"] for c in top] == pytest.approx([score for _, score in want[:len(top)]], abs=1e-6)


def test_the_example_photo_gets_the_librarys_label(server, photos, expected):
    status, result = server.classify(photos["dog.jpg"], "dog.jpg")
    assert status == 200, result
    assert result["top"][0]["label"] == Classifier(default_model_path()).classify(str(DOG)).top[0].label
    assert_same(result["top"], expected["dog.jpg"])
    assert len(result["top"]) == 5 and result["ms"] > 0

    status, result = server.classify(photos["dog.jpg"], top_k="3")
    assert status == 200 and len(result["top"]) == 3
    scores = [c["score"] for c in result["top"]]
    assert scores == sorted(scores, reverse=True)


def test_top_k_from_the_query_string(server, photos, expected):
    body, content_type = multipart({"image": ("dog.jpg", photos["dog.jpg"])})
    status, result = server.json("POST", "/api/classify?top_k=2", body, {"Content-Type": content_type})
    assert status == 200
    assert_same(result["top"], expected["dog.jpg"][:2])


def test_model_metadata(server):
    classifier = Classifier(default_model_path())
    status, model = server.json("GET", "/api/model")
    assert status == 200
    assert model["name"] == classifier.meta.name and model["labels"] == classifier.labels
    assert (model["input"]["width"], model["input"]["height"]) == classifier.size
    assert model["format"] == classifier.meta.format and model["bytes"] == default_model_path().stat().st_size


def test_the_page_and_everything_it_loads_are_served_here(server):
    status, headers, html = server.request("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    page = html.decode()
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert refs and not [r for r in refs if re.match(r"(https?:)?//", r)], refs  # no CDN
    for ref in [r for r in refs if r.startswith("/static/")]:
        status, headers, body = server.request("GET", ref)
        assert status == 200 and body, ref
    for element in ('type="file"', 'capture="environment"', 'id="top-label"', 'id="bars"', 'id="model-name"'):
        assert element in page


def test_openapi_description(server):
    status, spec = server.json("GET", "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    assert {"/api/classify", "/api/model", "/healthz"} <= set(spec["paths"])


def bomb_png() -> bytes:
    """20000 x 20000 pixels (400 million, over Pillow's limit) in 48 KB: a decompression bomb."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    return out.getvalue()


BAD_UPLOADS = {
    # name: (file name, bytes or a function making them, status, words the error must contain)
    "text file": ("notes.txt", b"just some notes, not a photo\n", 422, "notes.txt: not an image"),
    "utf-8 file name": ("café.txt", b"\xff\xfe", 422, "café.txt: not an image"),  # as browsers send the name
    "truncated jpeg": ("cut.jpg", lambda: DOG.read_bytes()[:60_000], 422, "truncated"),
    "empty upload": ("empty.jpg", b"", 422, "empty"),
    "decompression bomb": ("bomb.png", bomb_png, 422, "decompression bomb"),
    "11 MB upload": ("huge.jpg", lambda: DOG.read_bytes() + bytes(11 * 1024 * 1024), 413, "limit is 10,485,760"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_a_bad_upload_gets_a_4xx_naming_the_problem_and_the_server_keeps_serving(server, photos, expected, case):
    filename, data, want_status, words = BAD_UPLOADS[case]
    status, result = server.classify(data() if callable(data) else data, filename)
    assert status == want_status, result
    assert words in result["error"] and set(result) == {"error"}
    status, health = server.json("GET", "/healthz")
    assert status == 200 and health["status"] == "ok"
    status, result = server.classify(photos["dog.jpg"])
    assert status == 200 and result["top"][0]["label"] == expected["dog.jpg"][0][0]


def cut(form: tuple[bytes, str]) -> tuple[bytes, str]:
    """A form whose body stops before its closing boundary."""
    return form[0][:-20], form[1]


@pytest.mark.parametrize("method, path, body, content_type, want_status, words", [
    ("POST", "/api/classify", *multipart({"top_k": "3"}), 400, "field named 'image'"),
    ("POST", "/api/classify", DOG.read_bytes(), "image/jpeg", 415, "multipart/form-data"),
    ("POST", "/api/classify", *multipart({"image": ("d.jpg", b"x"), "top_k": "0"}), 400, "top_k"),
    ("POST", "/api/classify", *multipart({"image": ("d.jpg", b"x"), "top_k": "lots"}), 400, "top_k"),
    ("POST", "/api/classify", *cut(multipart({"image": ("d.jpg", b"x")})), 400, "closing boundary"),
    ("POST", "/api/classify", b"--x\r\n", "multipart/form-data", 415, "multipart/form-data"),  # no boundary
    ("GET", "/api/classify", None, None, 405, "takes POST"),
    ("GET", "/no/such/page", None, None, 404, "no such page"),
    ("GET", "/static/../setup.cfg", None, None, 404, "no such"),
])
def test_malformed_requests_get_a_4xx_json_error(server, method, path, body, content_type, want_status, words):
    status, result = server.json(method, path, body, {"Content-Type": content_type} if content_type else None)
    assert status == want_status and words in result["error"], result
    assert server.json("GET", "/healthz")[0] == 200


def test_parallel_requests_from_8_threads_are_all_correct(server, photos, expected):
    names = sorted(photos)
    assert len({want[0][0] for want in expected.values()}) > 1  # mixed-up answers would show

    def one(i: int):
        name = names[i % len(names)]
        return name, *server.classify(photos[name], name)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8 * 6)))
    for name, status, result in answers:
        assert status == 200, result
        assert_same(result["top"], expected[name])


def test_after_everything_the_server_still_answers(server, photos, expected):
    assert server.proc.poll() is None
    status, health = server.json("GET", "/healthz")
    assert status == 200 and health == {"status": "ok", "model": health["model"], "workers": health["workers"],
                                        "max_upload": 10 * 1024 * 1024}
    assert server.classify(photos["red.png"], "red.png")[1]["top"][0]["label"] == expected["red.png"][0][0]


def test_max_upload_option_and_ctrl_c(tmp_path, photos):
    small = ServerProcess("--max-upload", "100K", "--workers", "1", "--quiet", log=tmp_path / "server.log")
    try:
        status, result = small.classify(photos["dog.jpg"])  # 170 KB
        assert status == 413 and "limit is 102,400 bytes" in result["error"]
        status, result = small.classify(photos["green.png"])
        assert status == 200 and result["top"]
    finally:
        code = small.stop()
    assert code == 0 and "edgecls: stopped" in small.log.read_text()


def test_a_bad_max_upload_or_model_is_a_one_line_error(tmp_path):
    run = [sys.executable, "-m", "edgecls", "serve", "--port", "0"]
    result = subprocess.run([*run, "--max-upload", "lots"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2 and "like 10MB; received 'lots'" in result.stderr
    missing = tmp_path / "missing.tflite"
    result = subprocess.run([*run, "--model", str(missing)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1 and result.stderr.strip() == f"edgecls: error: {missing}: no such model file"
