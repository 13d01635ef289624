"""Latency of one model at one thread count, measured in a fresh process.

Each (model, threads) pair runs in its own ``python -m edgecls.bench.worker`` so that init time and peak
resident memory belong to that model alone, and no earlier run has warmed caches or grown the heap. The
parent sends a ``LatencyRequest`` as JSON on stdin; the worker prints one JSON result line on stdout.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edgecls.errors import EdgeclsError

WORKER = "edgecls.bench.worker"


@dataclasses.dataclass(frozen=True)
class LatencyRequest:
    model: str
    threads: int
    runs: int
    warmup: int
    pixels: np.ndarray | None = None   # H x W x 3 uint8 at the model's input size; None: random pixels
    jpeg: bytes | None = None          # the real photo of the end-to-end column
    seed: int = 0
    batch: int = 256                   # Keras only: the batch of the batched figure

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        if self.pixels is not None:
            pixels = np.ascontiguousarray(self.pixels, np.uint8)
            d["pixels"] = {"shape": list(pixels.shape), "b64": base64.b64encode(pixels.tobytes()).decode()}
        d["jpeg"] = base64.b64encode(self.jpeg).decode() if self.jpeg is not None else None
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> "LatencyRequest":
        d = json.loads(text)
        if d.get("pixels") is not None:
            p = d["pixels"]
            d["pixels"] = np.frombuffer(base64.b64decode(p["b64"]), np.uint8).reshape(p["shape"])
        if d.get("jpeg") is not None:
            d["jpeg"] = base64.b64decode(d["jpeg"])
        return cls(**d)


def random_pixels(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Deterministic sample input of ``size`` = (width, height) when no data is given."""
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def latency_stats(ns: list[int]) -> dict:
    """p50 / p90 / p99 / mean / std in milliseconds and images per second (1000 / mean) of ``ns`` timings."""
    ms = np.asarray(ns, np.float64) / 1e6
    mean = float(ms.mean())
    p50, p90, p99 = (float(v) for v in np.percentile(ms, (50, 90, 99)))
    return {"p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "mean_ms": mean,
            "std_ms": float(ms.std(ddof=1)) if len(ms) > 1 else 0.0, "fps": 1000.0 / mean if mean > 0 else None}


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, in MiB; None where the system does not say.

    Linux: VmHWM of /proc/self/status, the high-water mark of this process image alone. Not getrusage's
    ru_maxrss: it carries over the parent's peak when the worker was started with vfork (as subprocess does),
    so a worker started from a process holding TensorFlow would report TensorFlow's memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def timed(call, times: int) -> list[int]:
    out = []
    for _ in range(times):
        start = time.perf_counter_ns()
        call()
        out.append(time.perf_counter_ns() - start)
    return out


def ms(ns: int) -> float:
    return ns / 1e6


def time_tflite(request: LatencyRequest) -> dict:
    """Inside the worker: init, first inference, warm-up, ``runs`` timed invokes at batch 1, end to end."""
    from edgecls.runtime.classifier import Classifier

    base = peak_rss_mb()
    start = time.perf_counter_ns()
    classifier = Classifier(request.model, request.threads)
    init = time.perf_counter_ns() - start
    pixels = request.pixels if request.pixels is not None else random_pixels(classifier.size, request.seed)
    if pixels.shape[:2] != (classifier.size[1], classifier.size[0]):
        raise EdgeclsError(f"{request.model}: sample input is {pixels.shape[1]}x{pixels.shape[0]}; the model "
                           f"takes {classifier.size[0]}x{classifier.size[1]}")
    start = time.perf_counter_ns()
    classifier.probabilities(pixels)  # sets the input tensor, which stays set for the timed invokes
    first = time.perf_counter_ns() - start
    invoke = classifier.interpreter.invoke
    timed(invoke, request.warmup)
    result = {"init_ms": ms(init), "first_ms": ms(first), **latency_stats(timed(invoke, request.runs))}
    if request.jpeg is not None:
        # decode + resize + normalize/quantize + invoke + dequantize, the whole cost of one photo
        e2e = timed(lambda: classifier.probabilities(classifier.prepare(request.jpeg, "<bench image>")), request.runs)
        result["e2e_p50_ms"] = float(np.median(np.asarray(e2e, np.float64) / 1e6))
    result.update(peak_mb=peak_rss_mb(), base_mb=base, input_dtype=np.dtype(classifier.input["dtype"]).name,
                  runtime=runtime_name(type(classifier.interpreter).__module__))
    return tidy(result)


def tidy(result: dict) -> dict:
    """Round to what the clock and the kernel can tell apart: 0.1 µs, 0.1 image/s, 0.01 MiB."""
    digits = {"_ms": 4, "fps": 1, "_mb": 2}
    return {k: round(v, next((d for end, d in digits.items() if k.endswith(end)), 6)) if isinstance(v, float) else v
            for k, v in result.items()}


# Import name of each TFLite runtime -> its distribution name, in the order load_interpreter tries them.
RUNTIMES = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime", "tensorflow": "tensorflow"}


def runtime_name(module: str) -> str:
    """"ai-edge-litert 2.3.0" for a module of that distribution (the version is left off if unknown)."""
    from importlib import metadata

    top = module.split(".")[0]
    dist = RUNTIMES.get(top, top)
    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return dist


def worker_command() -> list[str]:
    return [sys.executable, "-m", WORKER]


def measure_latency(request: LatencyRequest) -> dict:
    """Run ``request`` in a fresh worker process and return its result; a failure is one EdgeclsError line."""
    proc = subprocess.run(worker_command(), input=request.to_json(), capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    if proc.returncode != 0 or "error" in result or not result:
        stderr = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        reason = result.get("error") or (stderr[-1] if stderr else f"worker exited with {proc.returncode}")
        raise EdgeclsError(reason if reason.startswith(request.model) else f"{request.model}: {reason}")
    return result
