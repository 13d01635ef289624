"""Load check of `edgecls serve`: N concurrent clients each POST a photo M times to /api/classify on 127.0.0.1.

    python bench/serve_load.py [--clients 8] [--requests 500] [--image examples/dog.jpg] [--url URL]
                               [--new-connections] [-- SERVE OPTIONS...]

Without --url it starts `edgecls serve --port 0 --quiet [SERVE OPTIONS]` and stops it afterwards. Each client is a
thread with its own keep-alive connection (--new-connections: one connection per request) and checks every answer:
status 200 and the same top label as the first answer. Prints requests/s, latency p50/p90/p99/max in ms (request
sent to answer read, as the client sees it) and the error count; exits 1 if there were any errors.
This is a benchmark, not a test: it reports numbers. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]


def form(image: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{image.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + image.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def start_server(options: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "edgecls", "serve", "--port", "0", "--quiet", *options], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://\S+/", line)
    if not match:
        proc.kill()
        sys.exit(f"serve_load: edgecls serve did not start: {line!r}")
    return proc, match[0]


def client(url: str, body: bytes, content_type: str, requests: int, new_connections: bool,
           latencies: list[float], errors: Counter, labels: Counter) -> None:
    parts = urlsplit(url)
    conn = None
    for _ in range(requests):
        start = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            conn.request("POST", "/api/classify", body, {"Content-Type": content_type})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                errors[f"HTTP {response.status}: {data[:120]!r}"] += 1
            else:
                labels[json.loads(data)["top"][0]["label"]] += 1
            if new_connections or response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            errors[f"{type(exc).__name__}: {exc}"] += 1
            if conn is not None:
                conn.close()
            conn = None
        latencies.append((time.perf_counter() - start) * 1000)
    if conn is not None:
        conn.close()


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(q / 100 * (len(sorted_ms) - 1)))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500, help="per client")
    parser.add_argument("--image", type=Path, default=ROOT / "examples" / "dog.jpg")
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--new-connections", action="store_true", help="a new TCP connection for every request")
    parser.add_argument("serve_options", nargs="*", help="after --: options for edgecls serve, e.g. --workers 2")
    args = parser.parse_args(argv)

    proc, url = (None, args.url) if args.url else start_server(args.serve_options)
    try:
        body, content_type = form(args.image)
        # Each client counts into its own lists and counters (a shared Counter's += is not atomic across threads).
        latencies: list[list[float]] = [[] for _ in range(args.clients)]
        errors = [Counter() for _ in range(args.clients)]
        labels = [Counter() for _ in range(args.clients)]
        threads = [threading.Thread(target=client, args=(url, body, content_type, args.requests, args.new_connections,
                                                          latencies[i], errors[i], labels[i]))
                   for i in range(args.clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)

    ms = sorted(x for per_client in latencies for x in per_client)
    errors, labels = sum(errors, Counter()), sum(labels, Counter())
    total = len(ms)
    wrong = sum(labels.values()) - max(labels.values(), default=0)  # every answer should carry the same label
    print(f"edgecls serve load: {args.clients} clients x {args.requests} requests, {args.image.name} "
          f"({args.image.stat().st_size:,} bytes), {'new connection per request' if args.new_connections else 'keep-alive'}")
    print(f"requests {total:,} in {seconds:.2f} s = {total / seconds:.1f} requests/s")
    print(f"latency ms: p50 {percentile(ms, 50):.1f}  p90 {percentile(ms, 90):.1f}  p99 {percentile(ms, 99):.1f}  "
          f"max {ms[-1]:.1f}  mean {statistics.fmean(ms):.1f}")
    print(f"errors {sum(errors.values())}, answers with another top label {wrong}; labels {dict(labels)}")
    for message, count in errors.most_common(5):
        print(f"  {count} x {message}")
    return 1 if errors or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
