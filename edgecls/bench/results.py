"""The benchmark result document (schema ``edgecls-bench/1``, see docs/benchmarks.md), its Markdown table,
CSV, plot, and the report that merges documents from several devices."""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import platform
from importlib import util
from pathlib import Path
from typing import NamedTuple

from edgecls.bench.measure import RUNTIMES, runtime_name
from edgecls.errors import EdgeclsError
from edgecls.fileio import write_json, write_text

SCHEMA = "edgecls-bench/1"
ROW_FIELDS = ("model", "path", "name", "format", "size_bytes", "threads", "top1", "delta", "count", "init_ms",
              "first_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "fps", "peak_mb", "base_mb",
              "e2e_p50_ms", "batch_ms", "input_dtype", "runtime")


def _num(fmt: str, scale: float = 1.0):
    return lambda v: "—" if v is None else format(v * scale, fmt)


def _text(v) -> str:
    return "—" if v is None or v == "" else str(v)


# (header, row key, cell format); the first eight after Model are the table, in its order.
COLUMNS = [
    ("Model", "name", _text),
    ("Format", "format", _text),
    ("Size MB", "size_bytes", _num(".3f", 1e-6)),
    ("Top-1", "top1", _num(".2f", 100.0)),
    ("Δ", "delta", _num("+.2f", 100.0)),
    ("p50 ms", "p50_ms", _num(".3f")),
    ("p90 ms", "p90_ms", _num(".3f")),
    ("FPS", "fps", _num(".1f")),
    ("Peak MB", "peak_mb", _num(".1f")),
    ("Threads", "threads", _text),
    ("E2E p50 ms", "e2e_p50_ms", _num(".3f")),
]
BATCH_COLUMN = ("Batch-256 ms/img", "batch_ms", _num(".3f"))  # shown when a Keras model was measured
LEGEND = ("Top-1 in %, Δ in points against the fp32 model of the same name; latency of one image (batch 1); "
          "FPS = 1000 / mean; Peak MB = peak resident memory of the measuring process; E2E = JPEG decode + "
          "preprocess + inference.")


def cpu_model() -> str | None:
    """The CPU (or board) name from /proc/cpuinfo or the device tree, where Linux provides them."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    for key in ("model name", "Model", "Hardware", "cpu model"):
        if fields.get(key):
            return fields[key]
    try:
        return Path("/proc/device-tree/model").read_text(errors="replace").strip("\x00\n ") or None
    except OSError:
        return None


# CPU features that decide how fast int8 and float models run: int8 dot products (VNNI, AMX, Arm's dotprod / i8mm),
# wide vectors and bfloat16. A model inside 1 ms on a CPU with them can take three times that on one without.
SPEED_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8",
                  "amx_bf16", "neon", "asimd", "asimddp", "i8mm", "bf16", "sve", "sve2")


def cpu_features(text: str | None = None) -> list[str]:
    """The ``SPEED_FEATURES`` the CPU lists in /proc/cpuinfo (x86 ``flags``, Arm ``Features``), in that order."""
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return []
    found: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            found.update(value.split())
    return [f for f in SPEED_FEATURES if f in found]


def memory_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine() -> dict:
    """What the numbers were measured on. The runtime is the first TFLite runtime found, as the interpreter picks."""
    found = next((m for m in RUNTIMES if util.find_spec(m) is not None), None)
    name, _, version = runtime_name(found).partition(" ") if found else ("none", "", "")
    return {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu_model": cpu_model(), "cpu_features": cpu_features(), "cpu_count": os.cpu_count(),
            "memory_mb": memory_mb(),
            "python": platform.python_version(), "runtime": {"name": name, "version": version or None}}


def document(device: str, settings: dict, rows: list[dict]) -> dict:
    return {"schema": SCHEMA, "device": device, "machine": machine(), "settings": settings,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "results": [{k: r.get(k) for k in ROW_FIELDS} for r in rows]}


def format_table(rows: list[dict], device: bool = False) -> str:
    """A Markdown table, one row per model and thread count (with a Device column for merged reports)."""
    columns = ([("Device", "device", _text)] if device else []) + COLUMNS
    if any(r.get("batch_ms") is not None for r in rows):
        columns.append(BATCH_COLUMN)
    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |",
             "|" + "|".join("---" if fmt is _text else "---:" for _, _, fmt in columns) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(key)) for _, key, fmt in columns) + " |" for r in rows]
    return "\n".join(lines)


def notes(rows: list[dict], margin: float = 0.05) -> list[str]:
    """Plain statements of the surprises a reader should not miss: a quantized model slower than its fp32
    sibling, or more threads slower than fewer, by more than ``margin`` (5 %: less is run-to-run noise)."""
    out = []
    timed = {(r.get("device"), r["name"], r["format"], r["threads"]): r for r in rows if r.get("p50_ms") is not None}

    def slower(r, ref, what):
        if r["p50_ms"] > ref["p50_ms"] * (1 + margin):
            where = f"{r['device']}: " if r.get("device") else ""
            out.append(f"{where}{r['name']} {r['format']} {what}: p50 {r['p50_ms']:.3f} ms against "
                       f"{ref['p50_ms']:.3f} ms (+{100 * (r['p50_ms'] / ref['p50_ms'] - 1):.0f} %)")

    for (device, name, fmt, threads), r in timed.items():
        fp32 = timed.get((device, name, "fp32", threads))
        if fp32 is not None and fmt not in ("fp32", "keras"):
            slower(r, fp32, f"is slower than fp32 at {threads} thread(s)")
        fewer = [k[3] for k in timed if k[:3] == (device, name, fmt) and k[3] < threads]
        if fewer:
            slower(r, timed[(device, name, fmt, max(fewer))], f"is slower at {threads} threads than at {max(fewer)}")
    return out


def render(doc: dict) -> str:
    """The table a user reads after ``edgecls bench``, with the legend and the notes."""
    parts = [format_table(doc["results"]), "", LEGEND]
    parts += [f"note: {n}" for n in notes(doc["results"])]
    return "\n".join(parts)


def csv_text(rows: list[dict], device: str | None = None) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, ["device", *ROW_FIELDS], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({"device": device, **r} if device is not None else r)
    return buf.getvalue()


def plot_rows(rows: list[dict], device: str) -> list[dict]:
    several = len({r["threads"] for r in rows}) > 1
    return [{"label": f"{r['name']} {r['format']}" + (f" ×{r['threads']}" if several else ""), "p50_ms": r["p50_ms"],
             "top1": r["top1"], "device": r.get("device", device)} for r in rows]


def write_outputs(doc: dict, json_out=None, csv_out=None, plot_out=None) -> list[Path]:
    """Write the JSON document, the CSV and the accuracy-against-latency plot that were asked for."""
    written = []
    if json_out:
        write_json(json_out, doc)
        written.append(Path(json_out))
    if csv_out:
        write_text(csv_out, csv_text(doc["results"], doc["device"]))
        written.append(Path(csv_out))
    if plot_out:
        from edgecls.plots import accuracy_latency_png

        written.append(accuracy_latency_png(plot_rows(doc["results"], doc["device"]), plot_out,
                                            f"accuracy against latency: {doc['device']}"))
    return written


def load_results(path: str | Path) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise EdgeclsError(f"{path}: not a readable results file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("results"), list):
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise EdgeclsError(f"{path}: expected an `edgecls bench --json` file of schema {SCHEMA}; received {found!r}")
    return doc


class Report(NamedTuple):
    markdown: str
    rows: list[dict]   # for accuracy_latency_png, with a device each


def describe_device(doc: dict) -> str:
    m, s = doc.get("machine", {}), doc.get("settings", {})
    runtime = m.get("runtime") or {}
    cpu = m.get("cpu_model") or m.get("processor") or m.get("machine")
    if m.get("cpu_features"):
        cpu = f"{cpu} ({' '.join(m['cpu_features'])})"
    return (f"- **{doc['device']}**: {cpu}, {m.get('cpu_count')} CPUs, {m.get('platform')}, Python {m.get('python')}, "
            f"{runtime.get('name')} {runtime.get('version') or ''}".rstrip()
            + f"; {s.get('runs')} runs after {s.get('warmup')} warm-up, data {s.get('data') or 'none (latency only)'}"
            + f", measured {doc.get('created')}")


def merge_report(files: list[str | Path]) -> Report:
    """One Markdown table over several devices' results (a Device column), their descriptions and notes."""
    docs = [load_results(f) for f in files]
    rows = [{**r, "device": d["device"]} for d in docs for r in d["results"]]
    parts = ["# edgecls benchmark report", "", format_table(rows, device=True), "", LEGEND, "", "## Devices", ""]
    parts += [describe_device(d) for d in docs]
    found = notes(rows)
    if found:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in found]
    plot = [p for d in docs for p in plot_rows([{**r, "device": d["device"]} for r in d["results"]], d["device"])]
    return Report("\n".join(parts) + "\n", plot)
