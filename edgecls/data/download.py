"""Fetching a file once into a local cache: resumable, checked against its MD5, moved into place atomically."""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from edgecls import __version__
from edgecls.errors import EdgeclsError

TIMEOUT = 30.0          # seconds a connect or a read may stall before we give up
CHUNK = 1 << 16


def cache_dir() -> Path:
    """``$EDGECLS_CACHE`` if set, else ``~/.cache/edgecls``; created on demand."""
    root = os.environ.get("EDGECLS_CACHE")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "edgecls"
    _make_dir(path)
    return path


def md5sum(path: str | Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)  # a checksum against corruption, not a security check
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, md5: str, filename: str | None = None, dest_dir: Path | None = None,
          progress: bool = True, *, hint: str | None = None) -> Path:
    """Download ``url`` into ``dest_dir`` (default :func:`cache_dir`) unless a copy with this MD5 is there already.

    An interrupted download stays as ``<name>.part`` and the next call resumes it. ``hint`` says what the user
    can do instead of downloading (for example which option takes a local copy); it ends network errors.
    """
    name = filename or Path(urllib.parse.urlsplit(url).path).name or "download"
    folder = Path(dest_dir) if dest_dir is not None else cache_dir()
    _make_dir(folder)
    final = folder / name
    if final.is_file() and md5sum(final) == md5:
        return final
    part = folder / f"{name}.part"
    _download(url, part, progress, hint or f"download {name} another way and pass the local copy instead")
    got = md5sum(part)
    if got != md5:
        part.unlink(missing_ok=True)
        raise EdgeclsError(f"{url}: MD5 {got} does not match the expected {md5}; "
                           "the partial download was removed, run again")
    os.replace(part, final)
    return final


def _download(url: str, part: Path, progress: bool, hint: str) -> None:
    done = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"edgecls/{__version__}"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            if done and response.status != 206:
                done = 0  # the server ignored the Range header and sends everything: start over
            total = _total_size(response, done, part)
            bar = _Progress(url, total, done, progress)
            try:
                with open(part, "ab" if done else "wb") as out:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        bar.update(done)
            finally:
                bar.close()
            if total is not None and done < total:
                # http.client returns an empty read, not an error, when the server closes early.
                raise ConnectionError(f"connection closed after {done:,} of {total:,} bytes")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and done:
            return  # the .part is complete already; the MD5 check decides whether it is right
        raise EdgeclsError(f"{url}: download failed (HTTP {exc.code} {exc.reason}); {hint}") from None
    except urllib.error.URLError as exc:
        raise EdgeclsError(f"{url}: download failed ({exc.reason}); {hint}") from None
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, OSError) and exc.filename:  # the disk, not the network
            raise EdgeclsError(f"{exc.filename}: cannot write the download ({exc.strerror})") from None
        reason = str(exc) or type(exc).__name__
        raise EdgeclsError(f"{url}: download interrupted ({reason}); run again to resume, or {hint}") from None


def _total_size(response: http.client.HTTPResponse, done: int, part: Path) -> int | None:
    """The full size of the file: from Content-Range on a 206, else Content-Length (plus what we already have)."""
    content_range = response.headers.get("Content-Range", "")
    if response.status == 206 and "/" in content_range:
        start = content_range.split()[-1].split("-")[0]
        if start.isdigit() and int(start) != done:
            part.unlink(missing_ok=True)
            raise EdgeclsError(f"{response.url}: the server resumed at byte {start} instead of {done}; "
                               "the partial download was removed, run again")
        size = content_range.rsplit("/", 1)[1]
        if size.isdigit():
            return int(size)
    length = response.headers.get("Content-Length", "")
    return done + int(length) if length.isdigit() else None


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeclsError(f"{path}: cannot create the download folder ({exc.strerror}); "
                           "set EDGECLS_CACHE to a writable folder") from None


class _Progress:
    """A one-line bar on a terminal, a single line on anything else, nothing when switched off."""

    def __init__(self, url: str, total: int | None, done: int, enabled: bool):
        self.tty = enabled and sys.stderr.isatty()
        self.total, self.start_bytes, self.done, self.start, self.last = total, done, done, time.monotonic(), 0.0
        if enabled and not self.tty:
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            print(f"downloading {url}{size}", file=sys.stderr, flush=True)

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        self.done = done
        if not self.tty or (now - self.last < 0.1 and not force):
            return
        self.last = now
        rate = (done - self.start_bytes) / max(now - self.start, 1e-6) / 1e6
        if self.total:
            line = f"{100 * done / self.total:5.1f}% {done / 1e6:.1f}/{self.total / 1e6:.1f} MB {rate:.1f} MB/s"
        else:
            line = f"{done / 1e6:.1f} MB {rate:.1f} MB/s"
        sys.stderr.write(f"\r  {line}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.update(self.done, force=True)
            sys.stderr.write("\n")
            sys.stderr.flush()
