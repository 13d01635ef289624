"""Classify images with a .tflite model: pixels in, labelled probabilities out. numpy and Pillow only."""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edgecls import metadata as md
from edgecls.data.images import load_image
from edgecls.errors import EdgeclsError
from edgecls.runtime.interpreter import load_interpreter


class Category(NamedTuple):
    label: str
    score: float


class Result(NamedTuple):
    top: list[Category]
    ms: float  # inference time alone, milliseconds


def quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """Float input to the tensor's dtype; integer tensors use real = scale * (q - zero_point)."""
    dtype = detail["dtype"]
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.floating):
        return values.astype(dtype)
    info = np.iinfo(dtype)
    if not scale:
        return np.clip(np.round(values), info.min, info.max).astype(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.issubdtype(detail["dtype"], np.floating) or not scale:
        return values.astype(np.float32)
    # Widen before subtracting: a uint8 minus its zero point would wrap around.
    return (scale * (values.astype(np.int64) - zero_point)).astype(np.float32)


class Classifier:
    """A loaded model and what it needs to know to take a photo: input size, fit, normalization, labels."""

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        self.interpreter = load_interpreter(self.path, threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        shape = self.input["shape"]
        if len(shape) != 4 or shape[3] != 3:
            raise EdgeclsError(f"{self.path}: expected one image input of shape 1xHxWx3; it has {list(shape)}")
        self.meta = md.read(self.path) or md.ModelMetadata(
            self.path.stem, [], md.InputSpec(int(shape[2]), int(shape[1])))
        classes = int(self.output["shape"][-1])
        self.labels = self.meta.labels if len(self.meta.labels) == classes else [str(i) for i in range(classes)]
        self.size = (int(shape[2]), int(shape[1]))
        self._mean = np.asarray(self.meta.input.mean, np.float32)
        self._std = np.asarray(self.meta.input.std, np.float32)

    def prepare(self, source, name: str | None = None) -> np.ndarray:
        """Decode a file, bytes or path to the model's H x W x 3 uint8 pixels."""
        return load_image(source, self.size, self.meta.input.fit, name=name)

    def probabilities(self, pixels: np.ndarray) -> tuple[np.ndarray, float]:
        """Run one H x W x 3 image (0..255) and return (probabilities, inference ms)."""
        x = (pixels.astype(np.float32) - self._mean) / self._std
        self.interpreter.set_tensor(self.input["index"], quantize(x[None], self.input))
        start = time.perf_counter()
        self.interpreter.invoke()
        ms = (time.perf_counter() - start) * 1000.0
        return dequantize(self.interpreter.get_tensor(self.output["index"])[0], self.output), ms

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities for a batch N x H x W x 3, one image at a time (the input is fixed at batch 1)."""
        return np.stack([self.probabilities(p)[0] for p in pixels]) if len(pixels) else np.zeros((0, len(self.labels)))

    def classify(self, source, top_k: int = 1, name: str | None = None) -> Result:
        probs, ms = self.probabilities(self.prepare(source, name))
        order = np.argsort(-probs, kind="stable")[:top_k]
        return Result([Category(self.labels[i], float(probs[i])) for i in order], ms)
