"""CIFAR loading from tiny archives in the official format, and resumable downloads from a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
import socket
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from edgecls.data import cifar, download
from edgecls.data.cifar import load_cifar
from edgecls.errors import EdgeclsError

PER_BATCH = 20


# --- tiny archives in the official format -------------------------------------------------------------------------

class _Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: every string is a byte string (SHORT_BINSTRING / BINSTRING).

    Python 3 pickles ``bytes`` at protocol 2 through ``_codecs.encode``, which the official files never use
    and the loader rightly refuses; this writes what ``cPickle.dump(d, f, 2)`` did for the CIFAR authors.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(data)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    # numpy 1 (which wrote the real files) named its reconstructor numpy.core.multiarray; numpy 2 says numpy._core.
    return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def image_rows(first: int, count: int) -> np.ndarray:
    """Rows of 3072 bytes: a ramp shifted by the image index in red, the index in green, 255 - index in blue."""
    k = np.arange(first, first + count)[:, None]
    red = (np.arange(1024)[None, :] + k) % 256
    return np.concatenate([red, np.broadcast_to(k % 256, (count, 1024)),
                           np.broadcast_to(255 - k % 256, (count, 1024))], axis=1).astype(np.uint8)


def write_cifar(root: Path, name: str) -> dict:
    """Write ``name``'s folder and .tar.gz under ``root`` with PER_BATCH images per batch file."""
    spec = cifar.SPECS[name]
    num_classes = 10 if name == "cifar10" else 100
    folder = root / spec.folder
    folder.mkdir(parents=True)
    classes = [f"class_{i:02d}" for i in range(num_classes)]
    (folder / spec.meta).write_bytes(py2_pickle({spec.names_key: [c.encode() for c in classes]}))
    per_file = PER_BATCH * 5 if name == "cifar100" else PER_BATCH
    first = 0
    for batch in (*spec.train, spec.test):
        count = PER_BATCH if batch == spec.test else per_file
        labels = [(first + i) * 7 % num_classes for i in range(count)]
        content = {b"batch_label": b"tiny", spec.labels_key: labels, b"data": image_rows(first, count),
                   b"filenames": [f"img_{first + i}.png".encode() for i in range(count)]}
        if name == "cifar100":
            content[b"coarse_labels"] = [label // 5 for label in labels]
        (folder / batch).write_bytes(py2_pickle(content))
        first += count
    archive = root / spec.archive
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=spec.folder)
    return {"root": root, "folder": folder, "archive": archive, "classes": classes, "num_classes": num_classes,
            "n_train": first - PER_BATCH}


@pytest.fixture
def cifar10(tmp_path):
    return write_cifar(tmp_path / "data", "cifar10")


@pytest.fixture
def cifar100(tmp_path):
    return write_cifar(tmp_path / "data100", "cifar100")


# --- loading ------------------------------------------------------------------------------------------------------

def check_dataset(ds, files, name):
    spec = cifar.SPECS[name]
    assert ds.name == name and ds.classes == files["classes"] and ds.num_classes == files["num_classes"]
    train, test = ds.split("train"), ds.split("test")
    assert train.pixels.shape == (files["n_train"], 32, 32, 3) and test.pixels.shape == (PER_BATCH, 32, 32, 3)
    assert train.pixels.dtype == np.uint8 and train.pixels.flags.c_contiguous
    n_train = files["n_train"]
    np.testing.assert_array_equal(train.labels, [i * 7 % files["num_classes"] for i in range(n_train)])
    np.testing.assert_array_equal(test.labels, [(n_train + i) * 7 % files["num_classes"] for i in range(PER_BATCH)])
    assert train.paths[17] == f"{spec.folder}/{spec.train[0]}[17]" and test.paths[3] == f"{spec.folder}/{spec.test}[3]"
    for split, offset in ((train, 0), (test, n_train)):
        for i in (0, 5, len(split) - 1):
            k = offset + i
            np.testing.assert_array_equal(split.pixels[i, :, :, 0], ((np.arange(1024) + k) % 256).reshape(32, 32))
            assert (split.pixels[i, :, :, 1] == k % 256).all() and (split.pixels[i, :, :, 2] == 255 - k % 256).all()
    assert train.pixels[2, 0, 1, 0] == 3 and train.pixels[2, 1, 0, 0] == 34  # red plane is row-major (y, x)


@pytest.mark.parametrize("where", ["archive", "folder", "parent", "folder holding the archive"])
def test_cifar10_loads_from_archive_or_folders(cifar10, where, tmp_path):
    if where == "folder holding the archive":
        holder = tmp_path / "downloads"
        holder.mkdir()
        cifar10["archive"].rename(holder / cifar10["archive"].name)
        path = holder
    else:
        path = {"archive": cifar10["archive"], "folder": cifar10["folder"], "parent": cifar10["root"]}[where]
    check_dataset(load_cifar("cifar10", str(path)), cifar10, "cifar10")


@pytest.mark.parametrize("where", ["archive", "folder"])
def test_cifar100_uses_fine_labels(cifar100, where):
    check_dataset(load_cifar("cifar100", cifar100[where]), cifar100, "cifar100")


def test_without_a_path_the_official_archive_is_fetched(cifar10, monkeypatch):
    calls = []

    def fake_fetch(url, md5, **kwargs):
        calls.append((url, md5))
        return cifar10["archive"]

    monkeypatch.setattr(download, "fetch", fake_fetch)
    ds = load_cifar("cifar10", progress=False)
    assert calls == [("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")]
    assert len(ds.split("train")) == cifar10["n_train"]


def test_restricted_unpickler_refuses_other_globals(cifar10, tmp_path):
    marker = tmp_path / "pwned"
    evil = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    (cifar10["folder"] / "batches.meta").write_bytes(evil)
    with pytest.raises(EdgeclsError, match=r"batches\.meta: refused to load the global os\.system") as info:
        load_cifar("cifar10", cifar10["folder"])
    assert "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_archive_is_a_clear_error(cifar10, damage):
    archive = cifar10["archive"]
    data = archive.read_bytes()
    archive.write_bytes(b"this is not a tar file" * 100 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(EdgeclsError, match="not a readable CIFAR archive.*cifar-10-python.tar.gz") as info:
        load_cifar("cifar10", archive)
    assert str(archive) in str(info.value)


def test_archive_without_the_cifar_files(tmp_path):
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("something/else")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(EdgeclsError, match="lacks cifar-10-batches-py/batches.meta"):
        load_cifar("cifar10", archive)


def test_missing_batch_wrong_folder_and_unknown_name(cifar10, tmp_path):
    (cifar10["folder"] / "data_batch_3").unlink()
    with pytest.raises(EdgeclsError, match="data_batch_3: missing"):
        load_cifar("cifar10", cifar10["folder"])
    with pytest.raises(EdgeclsError, match="no CIFAR files here; expected the cifar-10-python.tar.gz archive"):
        load_cifar("cifar10", tmp_path)
    with pytest.raises(EdgeclsError, match="no such file or folder"):
        load_cifar("cifar10", tmp_path / "nope.tar.gz")
    with pytest.raises(EdgeclsError, match="unknown CIFAR dataset 'cifar1'"):
        load_cifar("cifar1", cifar10["folder"])


def test_batch_with_wrong_shape(cifar10):
    batch = cifar10["folder"] / "test_batch"
    batch.write_bytes(py2_pickle({b"labels": [0, 1], b"data": np.zeros((2, 100), np.uint8)}))
    with pytest.raises(EdgeclsError, match=r"test_batch: 'data' must be an N x 3072 uint8 array; found uint8 array"):
        load_cifar("cifar10", cifar10["folder"])


# --- downloading --------------------------------------------------------------------------------------------------

class FileServer:
    """Serves one payload over HTTP/1.0, honouring ``Range``; can cut the next response off halfway."""

    def __init__(self, payload: bytes):
        self.payload, self.ranges, self.drop_next, self.ignore_range = payload, [], False, False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.respond(self)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/kriz/cifar-10-python.tar.gz"

    def respond(self, handler):
        header = handler.headers.get("Range")
        self.ranges.append(header)
        size, start = len(self.payload), 0
        if header and not self.ignore_range:
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= size:
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{size}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            handler.send_response(200)
        body = self.payload[start:]
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if self.drop_next:
            self.drop_next = False
            body = body[: len(body) // 2]  # then the connection closes short of Content-Length
        handler.wfile.write(body)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(cifar10, monkeypatch, tmp_path):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("EDGECLS_CACHE", str(tmp_path / "cache"))
    srv = FileServer(cifar10["archive"].read_bytes())
    srv.md5, srv.files = hashlib.md5(srv.payload).hexdigest(), cifar10
    yield srv
    srv.close()


def test_fetch_downloads_verifies_and_then_uses_the_cache(server, tmp_path, capsys):
    path = download.fetch(server.url, server.md5)
    assert path == tmp_path / "cache" / "cifar-10-python.tar.gz"
    assert path.read_bytes() == server.payload and not path.with_name(path.name + ".part").exists()
    assert len(capsys.readouterr().err.splitlines()) <= 1  # stderr is not a terminal: one short line at most
    assert download.fetch(server.url, server.md5) == path
    assert server.ranges == [None]  # the second call never reached the server
    check_dataset(load_cifar("cifar10", path), server.files, "cifar10")


def test_interrupted_download_resumes_with_range(server, tmp_path):
    server.drop_next = True
    with pytest.raises(EdgeclsError, match="download interrupted.*run again to resume"):
        download.fetch(server.url, server.md5, progress=False)
    part = tmp_path / "cache" / "cifar-10-python.tar.gz.part"
    assert part.stat().st_size == len(server.payload) // 2
    path = download.fetch(server.url, server.md5, progress=False)
    assert server.ranges == [None, f"bytes={len(server.payload) // 2}-"]
    assert path.read_bytes() == server.payload and not part.exists()


def test_resume_when_the_server_ignores_range_or_the_part_is_complete(server, tmp_path):
    part = tmp_path / "cache" / "cifar-10-python.tar.gz.part"
    part.parent.mkdir()
    part.write_bytes(server.payload[:1000])
    server.ignore_range = True  # answers 200 with everything: start over
    assert download.fetch(server.url, server.md5, progress=False).read_bytes() == server.payload
    part.write_bytes(server.payload)
    (tmp_path / "cache" / "cifar-10-python.tar.gz").unlink()
    server.ignore_range = False  # answers 416: the part is complete already
    assert download.fetch(server.url, server.md5, progress=False).read_bytes() == server.payload
    assert server.ranges == ["bytes=1000-", f"bytes={len(server.payload)}-"]


def test_wrong_md5_removes_the_download(server, tmp_path):
    with pytest.raises(EdgeclsError, match=f"MD5 {server.md5} does not match the expected 0+; the partial download"):
        download.fetch(server.url, "0" * 32, dest_dir=tmp_path / "elsewhere", progress=False)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_network_error_names_the_url_and_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"
    with pytest.raises(EdgeclsError, match="download failed.*local copy") as info:
        download.fetch(url, "0" * 32, dest_dir=tmp_path, progress=False,
                       hint="pass a local copy instead, e.g. `--data cifar10:/path/to/cifar-10-python.tar.gz`")
    assert str(info.value).startswith(url) and "\n" not in str(info.value)


def test_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECLS_CACHE", str(tmp_path / "c"))
    assert download.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
    monkeypatch.delenv("EDGECLS_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert download.cache_dir() == tmp_path / ".cache" / "edgecls"
