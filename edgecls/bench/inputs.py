"""What a benchmark runs on: each model's name, format and input, the decoded test slice, the end-to-end photo."""

from __future__ import annotations

import dataclasses
import io
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from edgecls import metadata as md
from edgecls.data.dataset import Split
from edgecls.errors import EdgeclsError


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    format: str
    labels: list[str]
    size: tuple[int, int]            # width, height
    fit: str


def describe(path: str | Path) -> ModelInfo:
    """Name, format, labels and input of a .tflite file (from its metadata) or a .keras file (from its run)."""
    path = Path(path)
    if path.suffix == ".keras":
        from edgecls.bench.keras import run_info

        info = run_info(path)
        return ModelInfo(path, info.model, "keras", list(info.classes), tuple(info.input_size), info.fit)
    if path.suffix != ".tflite":
        raise EdgeclsError(f"{path}: bench takes .tflite files (and .keras files with TensorFlow); "
                           f"received {path.suffix or 'a file without a suffix'}")
    from edgecls.runtime.classifier import Classifier

    classifier = Classifier(path)
    meta = md.read(path)  # a file without edgecls metadata has no known format: say so rather than guess
    return ModelInfo(path, classifier.meta.name, meta.format if meta else "unknown", list(classifier.labels),
                     classifier.size, classifier.meta.input.fit)


def load_test_slice(source: str, infos: list[ModelInfo], limit: int, seed: int = 0):
    """(classes, split, {(size, fit): (pixels, labels)}): ``limit`` test images decoded once per input size."""
    from edgecls.data import DataOptions, load_dataset
    from edgecls.data.dataset import stratified_sample
    from edgecls.data.decode import decode_split

    dataset = load_dataset(source, DataOptions(seed=seed, progress=False))
    split = dataset.split("test")
    if limit < len(split):
        split = split.subset(stratified_sample(split.labels, limit, seed))
    decoded = {}
    for key in dict.fromkeys((info.size, info.fit) for info in infos):
        pixels, labels, skipped = decode_split(split, *key)
        for path, reason in skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        decoded[key] = (pixels, labels)
    return dataset.classes, split, decoded


def encode_jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def sample_jpeg(split: Split | None, decoded: dict) -> bytes:
    """The first test image as a real JPEG: its own bytes when it is one, else its pixels at quality 90."""
    if split is not None and split.pixels is None and len(split):
        try:
            data = split.read(0)
        except EdgeclsError:
            data = b""
        if data[:3] == b"\xff\xd8\xff":
            return data
    if split is not None and split.pixels is not None and len(split):
        return encode_jpeg(split.pixels[0])
    first = next((pixels for pixels, _ in decoded.values() if len(pixels)), None)
    return encode_jpeg(first[0]) if first is not None else default_jpeg()[0]


def default_jpeg() -> tuple[bytes, str]:
    """A photo that ships with the package, else a synthetic 640x480 JPEG (a smooth gradient with noise)."""
    assets = resources.files("edgecls") / "assets"
    photos = sorted((p for p in assets.iterdir() if p.name.endswith((".jpg", ".jpeg"))), key=lambda p: p.name) \
        if assets.is_dir() else []
    if photos:
        return photos[0].read_bytes(), f"edgecls/assets/{photos[0].name}"
    y, x = np.mgrid[0:480, 0:640]
    noise = np.random.default_rng(0).integers(0, 24, (480, 640, 3))
    pixels = np.stack([x * 255 // 640, y * 255 // 480, (x + y) * 255 // 1120], axis=-1) + noise
    return encode_jpeg(np.clip(pixels, 0, 255).astype(np.uint8)), "synthetic 640x480 JPEG"
