"""The HTTP side of ``edgecls serve``: routes, uploads, JSON errors and a pool of interpreters.

  GET  /                  the page (static/index.html); its scripts and styles come from /static/, never a CDN
  POST /api/classify      multipart/form-data: a file field ``image``, optional ``top_k`` -> {"top": [...], "ms": ...}
  GET  /api/model         what the model says about itself: name, labels, input size and preprocessing, accuracy
  GET  /healthz           {"status": "ok", ...}
  GET  /openapi.json      an OpenAPI 3.1 description of the routes above (static/openapi.json)

Every error is one JSON object ``{"error": "<one line naming the problem>"}`` with a 4xx status (500 only for a bug),
and the server goes on serving. The upload limit is checked against Content-Length before the body is read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.message
import email.parser
import email.policy
import email.utils
import json
import os
import queue
import re
import socket
import socketserver
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from edgecls.data.images import ImageError
from edgecls.errors import EdgeclsError
from edgecls.runtime import Classifier, default_model_path

MB = 1024 * 1024
DEFAULT_MAX_UPLOAD = 10 * MB
DEFAULT_TOP_K = 5
# A refused upload is still read (and thrown away) up to this size, so the client, which is usually still sending,
# gets to read our answer instead of a connection reset. Beyond it we close at once.
DRAIN_LIMIT = 64 * MB
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml"}
# Everything the page uses comes from this server: the device may be offline, and a CDN would see every visit.
CSP = ("default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclasses.dataclass
class ServeOptions:
    model: str | Path | None = None       # None: the bundled model
    host: str = "127.0.0.1"
    port: int = 8000                      # 0: any free port
    threads: int | None = None            # threads per interpreter; None: the runtime's choice
    workers: int | None = None            # interpreters classifying at once; None: min(4, CPUs)
    max_upload: int = DEFAULT_MAX_UPLOAD  # bytes of request body
    quiet: bool = False                   # no access log on stderr


def parse_size(text: str) -> int:
    """``"10MB"``, ``"512K"``, ``"1.5 MiB"`` or ``"1000000"`` to bytes; K, M and G are powers of 1024."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    size = int(float(match[1]) * 1024 ** " kmg".index(match[2].lower() or " ")) if match else 0
    if size < 1:
        raise EdgeclsError(f"a size is a positive number with an optional K, M or G suffix, like 10MB; "
                           f"received {text!r}")
    return size


class ClassifierPool:
    """At most ``size`` classifiers, each used by one thread at a time, loaded as the load asks for them.

    An interpreter keeps its input and output in its own tensors, so two threads invoking one at once could read
    each other's answers. ThreadingHTTPServer starts a thread per connection: an interpreter per thread
    (threading.local) would load a model per connection; one interpreter behind a lock would run one photo at a
    time. The pool runs up to ``size`` photos at once and caps the memory for decoding them at ``size`` images.
    """

    def __init__(self, factory, size: int, first: Classifier | None = None):
        self._factory = factory
        self._idle: queue.LifoQueue[Classifier] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._count_lock = threading.Lock()
        self.size = size
        self.loaded = 0
        if first is not None:
            self._idle.put(first)
            self.loaded = 1

    @contextlib.contextmanager
    def borrow(self):
        with self._slots:
            # Holding a slot, at most size - 1 classifiers are in other hands, so loading one keeps us within size.
            try:
                classifier = self._idle.get_nowait()
            except queue.Empty:
                classifier = self._factory()
                with self._count_lock:
                    self.loaded += 1
            try:
                yield classifier
            finally:
                self._idle.put(classifier)


class App:
    """The model, its pool of interpreters and the page's files: everything a request handler needs."""

    def __init__(self, options: ServeOptions):
        self.options = options
        path = Path(options.model) if options.model else default_model_path()
        first = Classifier(path, options.threads)  # a bad model fails here, before we listen
        workers = options.workers or min(4, os.cpu_count() or 1)
        self.pool = ClassifierPool(lambda: Classifier(path, options.threads), workers, first)
        self.name = first.meta.name
        self.labels = list(first.labels)
        self.model = {**first.meta.to_dict(), "labels": self.labels, "file": path.name, "bytes": path.stat().st_size}
        static = resources.files("edgecls.serve") / "static"
        self.static = {p.name: (p.read_bytes(), CONTENT_TYPES[Path(p.name).suffix])
                       for p in static.iterdir() if p.is_file() and Path(p.name).suffix in CONTENT_TYPES}

    def classify(self, data: bytes, name: str, top_k: int) -> dict:
        with self.pool.borrow() as classifier:
            result = classifier.classify(data, top_k, name=name)
        return {"top": [{"label": c.label, "score": round(c.score, 6)} for c in result.top], "ms": round(result.ms, 3)}


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclasses.dataclass
class Part:
    filename: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> dict[str, Part]:
    """The fields of a multipart/form-data body by name (the first of a repeated name wins).

    The body is split on its boundary, which by definition occurs nowhere inside a part; only each part's few
    header lines go through the email package, which handles quoting and RFC 2231 parameters.
    """
    header = email.message.Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary") if header.get_content_type() == "multipart/form-data" else None
    if not boundary:
        raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the photo as multipart/form-data with a file field "
                        f"named 'image'; received Content-Type {content_type or 'none'!r}")
    boundary = email.utils.collapse_rfc2231_value(boundary)
    if not re.fullmatch(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]", boundary):  # RFC 2046
        raise HttpError(HTTPStatus.BAD_REQUEST, f"a multipart boundary has 1 to 70 letters, digits or '()+_,-./:=? "
                                                f"and does not end with a space; received {boundary[:80]!r}")
    fields: dict[str, Part] = {}
    sections = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    for section in sections[1:]:  # sections[0] is the preamble
        if section.startswith(b"--"):
            return fields  # the closing delimiter
        head, _, data = section.partition(b"\r\n\r\n")
        # policy.HTTP reads header bytes as UTF-8, as browsers send file names; compat32 would mangle them.
        headers = email.parser.BytesHeaderParser(policy=email.policy.HTTP).parsebytes(head.strip() + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if name is not None:
            fields.setdefault(email.utils.collapse_rfc2231_value(name), Part(headers.get_filename(), data))
    raise HttpError(HTTPStatus.BAD_REQUEST, "the multipart body ends without its closing boundary")


def whole_number(text: str | None) -> int | None:
    """``text`` as a non-negative int, or None (str.isdigit would accept "²", which int() refuses)."""
    return int(text) if text is not None and re.fullmatch(r"\s*[0-9]{1,18}\s*", text) else None


def parse_top_k(value: str | None, classes: int) -> int:
    if value is None or not value.strip():
        return min(DEFAULT_TOP_K, classes)
    k = whole_number(value) or 0
    if not 1 <= k <= classes:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"top_k must be a whole number from 1 to {classes}; "
                                                f"received {value[:40]!r}")
    return k


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"  # keep-alive: a client can send many requests over one connection
    timeout = 30                   # seconds a read may stall before the connection is dropped
    # Headers and body go out in two writes; with Nagle's algorithm the body would wait for the client's delayed
    # ACK of the headers (40 ms on Linux), which capped a keep-alive client at ~20 requests/s.
    disable_nagle_algorithm = True
    server_version = "edgecls"
    sys_version = ""
    ROUTES = {"/": {"GET": "page"}, "/healthz": {"GET": "healthz"}, "/api/model": {"GET": "model"},
              "/api/classify": {"POST": "classify"}, "/openapi.json": {"GET": "openapi"}}

    @property
    def app(self) -> App:
        return self.server.app

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def dispatch(self):
        self._unread = self._declared_length()
        path = urlsplit(self.path).path
        try:
            methods = self.ROUTES.get(path) or ({"GET": "asset"} if path.startswith("/static/") else None)
            if methods is None:
                raise HttpError(HTTPStatus.NOT_FOUND, f"no such page: {path[:200]}")
            if self.command not in methods:
                raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {', '.join(methods)}; "
                                f"received {self.command}", {"Allow": ", ".join(methods)})
            getattr(self, "route_" + methods[self.command])(path)
        except HttpError as exc:
            self.send_json(exc.status, {"error": str(exc)}, exc.headers)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away or stalled; there is no one to answer
        except Exception as exc:  # a bug: log it, answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR,
                           {"error": f"internal error ({type(exc).__name__}); the server's log has the details"})

    # Routes

    def route_page(self, path):
        self.send_asset("index.html")

    def route_asset(self, path):
        self.send_asset(path.removeprefix("/static/"))

    def route_openapi(self, path):
        self.send_asset("openapi.json")

    def route_healthz(self, path):
        self.send_json(HTTPStatus.OK, {"status": "ok", "model": self.app.name, "workers": self.app.pool.size,
                                          "max_upload": self.app.options.max_upload})

    def route_model(self, path):
        self.send_json(HTTPStatus.OK, self.app.model)

    def route_classify(self, path):
        body = self.read_body()
        fields = parse_multipart(body, self.headers.get("Content-Type", ""))
        image = fields.get("image")
        if image is None:
            received = f"; received fields {sorted(fields)}" if fields else "; received none"
            raise HttpError(HTTPStatus.BAD_REQUEST, f"send the photo as a multipart file field named 'image'{received}")
        query = parse_qs(urlsplit(self.path).query).get("top_k", [None])[0]
        top_k = parse_top_k(fields["top_k"].data.decode("utf-8", "replace") if "top_k" in fields else query,
                            len(self.app.labels))
        name = Path((image.filename or "upload").replace("\\", "/")).name[:100] or "upload"
        try:
            result = self.app.classify(image.data, name, top_k)
        except ImageError as exc:  # empty, not an image, truncated, too many pixels
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from None
        self.send_json(HTTPStatus.OK, result)

    # Request bodies

    def _declared_length(self) -> int:
        """Bytes of body still to read: Content-Length, or more than DRAIN_LIMIT when it is unknown (chunked)."""
        length = self.headers.get("Content-Length")
        if "Transfer-Encoding" in self.headers:
            return DRAIN_LIMIT + 1
        if length is None:
            return 0
        size = whole_number(length)
        return DRAIN_LIMIT + 1 if size is None else size

    def read_body(self) -> bytes:
        if "Transfer-Encoding" in self.headers:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send the upload with a Content-Length; chunked uploads are "
                                                        "not supported")
        length = self.headers.get("Content-Length")
        size = whole_number(length)
        if size is None:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, f"a POST needs a Content-Length; received {length!r}")
        if size > self.app.options.max_upload:
            raise self._too_large(size)
        body = self.rfile.read(size)
        self._unread = 0
        if len(body) < size:
            self.close_connection = True
            raise HttpError(HTTPStatus.BAD_REQUEST, f"the upload ended after {len(body):,} of {size:,} bytes")
        return body

    def _too_large(self, size: int) -> HttpError:
        return HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the upload is {size:,} bytes; the limit is "
                         f"{self.app.options.max_upload:,} bytes (edgecls serve --max-upload)")

    def handle_expect_100(self):
        """A client that asks before sending (curl does, for large uploads) hears 413 before it sends anything."""
        size = whole_number(self.headers.get("Content-Length"))
        if size is not None and size > self.app.options.max_upload:
            self._unread, self.close_connection = 0, True
            self.send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": str(self._too_large(size))})
            return False
        return super().handle_expect_100()

    def _drain(self):
        left, self._unread = self._unread, 0
        with contextlib.suppress(OSError):
            while 0 < left <= DRAIN_LIMIT:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)

    # Responses

    def send_asset(self, name: str):
        if name not in self.app.static:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such file: /static/{name[:200]}")
        body, content_type = self.app.static[name]
        self.send_bytes(HTTPStatus.OK, body, content_type, {"Content-Security-Policy": CSP})

    def send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None):
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None):
        unread = getattr(self, "_unread", 0)
        self.log_request(status, len(body))
        self.send_response_only(status)
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if unread or self.close_connection:
            self.send_header("Connection", "close")  # also sets self.close_connection
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if unread:
            self._drain()

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (a malformed request line, an unknown method) as JSON too."""
        self.close_connection = True
        self.send_json(code, {"error": message or HTTPStatus(code).phrase})

    def log_message(self, format, *args):
        if not self.app.options.quiet:
            sys.stderr.write(f"edgecls: {self.address_string()} {format % args}\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True     # Ctrl-C does not wait for open keep-alive connections
    request_queue_size = 64   # connections waiting to be accepted (the default, 5, drops bursts of clients)

    def __init__(self, app: App):
        self.app = app
        host, port = app.options.host, app.options.port
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host, port), Handler)
        except OSError as exc:
            raise EdgeclsError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None

    def server_bind(self):
        # HTTPServer.server_bind looks the host's name up in DNS (socket.getfqdn), which stalls where there is none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client going away is no error
            super().handle_error(request, client_address)


def make_server(options: ServeOptions) -> Server:
    """Load the model and listen; ``serve_forever()`` on the result answers requests until ``shutdown()``."""
    return Server(App(options))
