"""``run_bench(models, options)``: accuracy once per model, latency per model and thread count, one document."""

from __future__ import annotations

import dataclasses
import platform
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from edgecls.bench import accuracy
from edgecls.bench.inputs import ModelInfo, default_jpeg, describe, load_test_slice, sample_jpeg
from edgecls.bench.measure import LatencyRequest, measure_latency
from edgecls.bench.results import document
from edgecls.errors import EdgeclsError


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    threads: tuple[int, ...] = (1,)
    runs: int = 50
    warmup: int = 5
    data: str | None = None          # a --data SOURCE for top-1; None: latency only
    limit: int = 1000                # test images for top-1 (a stratified sample)
    image: str | None = None         # the JPEG of the end-to-end column
    device: str | None = None        # default: host name and machine
    seed: int = 0


# Rows of one model read from the reference down to the smallest format; unknown formats come last.
FORMAT_ORDER = ("keras", "fp32", "fp16", "dynamic", "int8")


def format_rank(fmt: str) -> int:
    return FORMAT_ORDER.index(fmt) if fmt in FORMAT_ORDER else len(FORMAT_ORDER)


def default_device() -> str:
    return f"{platform.node()} {platform.machine()}".strip()


def _top1(info: ModelInfo, classes: list[str], pixels: np.ndarray, labels: np.ndarray):
    if info.format == "keras":
        from edgecls.bench.keras import keras_predict

        predict = keras_predict(info.path)
    else:
        from edgecls.runtime.classifier import Classifier

        predict = Classifier(info.path).predict
    return accuracy.top1(predict, pixels, labels, classes, info.labels, str(info.path))


@dataclasses.dataclass
class Inputs:
    """What the measurements run on: models, decoded test images per input size, the end-to-end photo."""
    infos: list[ModelInfo]
    classes: list[str]
    decoded: dict                    # ((width, height), fit) -> (pixels, labels)
    jpeg: bytes
    settings: dict                   # data, limit, image and bundle, as the result document records them


def data_inputs(models: list[str | Path], options: BenchOptions) -> Inputs:
    if not models:
        raise EdgeclsError("no models given: pass .tflite files or --from-bundle ARCHIVE")
    infos = [describe(m) for m in models]
    if not options.data:
        jpeg, image = default_jpeg()
        return Inputs(infos, [], {}, jpeg, {"data": None, "limit": None, "image": image, "bundle": None})
    classes, split, decoded = load_test_slice(options.data, infos, options.limit, options.seed)
    return Inputs(infos, classes, decoded, sample_jpeg(split, decoded),
                  {"data": options.data, "limit": options.limit, "image": "first test image (JPEG)", "bundle": None})


def bundle_inputs(archive: str | Path, workdir: str) -> Inputs:
    from edgecls.bench.bundle import open_bundle

    bundle, name = open_bundle(archive, workdir), Path(archive).name
    data = bundle.manifest["data"]
    return Inputs([describe(m) for m in bundle.models], bundle.classes, bundle.data, bundle.image,
                  {"data": f"bundle {name} ({data['source']})", "limit": data["count"], "image": f"{name}: image.jpg",
                   "bundle": str(archive)})


def bench_model(info: ModelInfo, options: BenchOptions, inputs: Inputs) -> list[dict]:
    """Top-1 once (when there is data at the model's input size), then latency at every thread count."""
    pixels, labels = inputs.decoded.get((info.size, info.fit), (None, None))
    has_data = pixels is not None and len(pixels) > 0
    top1, count = _top1(info, inputs.classes, pixels, labels) if has_data else (None, 0)
    rows = []
    for threads in options.threads:
        request = LatencyRequest(str(info.path), threads, options.runs, options.warmup,
                                 pixels[0] if has_data else None, inputs.jpeg, options.seed)
        result = measure_latency(request)
        print(f"{info.path.name} x{threads}: p50 {result['p50_ms']:.3f} ms", file=sys.stderr, flush=True)
        rows.append({"model": info.path.name, "path": str(info.path), "name": info.name, "format": info.format,
                     "size_bytes": info.path.stat().st_size, "threads": threads, "top1": top1, "count": count,
                     **result})
    return rows


def _short(tags: dict[str, str], shorten) -> dict[str, str]:
    """``tags`` shortened (a folder's or a file's own name) when the short forms still tell them apart."""
    short = {key: shorten(tag) or tag for key, tag in tags.items()}
    return short if len(set(short.values())) == len(set(tags.values())) else tags


def name_apart(rows: list[dict]) -> list[dict]:
    """Tell apart files that share a model name and a format. A file is named by its architecture, so two
    trained models of one architecture (a 64x64 MobileNetV2 and the bundled default) share a name, and their
    deltas, order and table rows would mix. Every row of such a name gets its folder in brackets (a convert
    folder holds the formats of one trained model), or its file when one folder holds both; by the short name
    when that is unique, else by the whole path."""
    paths: dict[str, dict[str, str]] = {}    # name -> path -> format
    for r in rows:
        paths.setdefault(r["name"], {})[r["path"]] = r["format"]
    for name, formats in paths.items():
        if len(set(formats.values())) == len(formats):
            continue
        folder = {p: str(Path(p).parent) for p in formats}
        by_folder = Counter((folder[p], fmt) for p, fmt in formats.items())
        tag = _short(folder, lambda f: Path(f).name) if max(by_folder.values()) == 1 else _short(
            {p: p for p in formats}, lambda f: Path(f).stem)
        for r in rows:
            if r["name"] == name:
                r["name"] = f"{name} ({tag[r['path']]})"
    return rows


def run_bench(models: list[str | Path], options: BenchOptions = BenchOptions(),
              from_bundle: str | Path | None = None) -> dict:
    """Benchmark ``models`` on ``options.data``, or the models and data of a bundle, and return the result
    document (results.SCHEMA)."""
    with tempfile.TemporaryDirectory(prefix="edgecls-bench-") as tmp:
        inputs = bundle_inputs(from_bundle, tmp) if from_bundle is not None else data_inputs(models, options)
        if options.image:
            inputs.jpeg, inputs.settings["image"] = Path(options.image).read_bytes(), options.image
        rows = [row for info in inputs.infos for row in bench_model(info, options, inputs)]
        if from_bundle is not None:  # the extracted copies vanish with tmp: name them inside the archive
            for row in rows:
                row["path"] = f"{Path(from_bundle).name}/{Path(row['path']).relative_to(tmp).as_posix()}"
    accuracy.add_deltas(name_apart(rows))
    names = list(dict.fromkeys(r["name"] for r in rows))  # models in the order given
    rows.sort(key=lambda r: (names.index(r["name"]), format_rank(r["format"]), r["threads"]))
    settings = {"runs": options.runs, "warmup": options.warmup, "threads": list(options.threads),
                "seed": options.seed, **inputs.settings}
    return document(options.device or default_device(), settings, rows)
