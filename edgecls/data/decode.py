"""Decode a split's files once into one uint8 array, skipping (and reporting) files that are not usable images."""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np

from edgecls.data.dataset import Split
from edgecls.data.images import ImageError, fit_size, load_image
from edgecls.errors import EdgeclsError


def decode_split(split: Split, size: tuple[int, int], fit: str = "crop",
                 workers: int | None = None) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Return (pixels N x H x W x 3 uint8, labels, skipped [(path, reason)]) at ``size`` = (width, height)."""
    if split.pixels is not None:
        pixels = split.pixels
        if pixels.shape[1:3] != (size[1], size[0]):
            from PIL import Image

            pixels = np.stack([np.asarray(fit_size(Image.fromarray(p), size, fit)) for p in pixels])
        return pixels, split.labels, []

    def one(i: int) -> np.ndarray | ImageError:
        try:
            data = split.read(i)
        except EdgeclsError as exc:
            return ImageError(split.paths[i], str(exc))
        try:
            return load_image(data, size, fit, name=split.paths[i])
        except ImageError as exc:  # any other error (a bad ``fit``) is the caller's and must not skip every file
            return exc

    # Pillow releases the GIL while decoding, so threads help even for small JPEGs.
    workers = workers or min(8, (os.cpu_count() or 1) + 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, range(len(split)), chunksize=256))
    keep = [i for i, r in enumerate(results) if not isinstance(r, ImageError)]
    skipped = [(r.name, r.reason) for r in results if isinstance(r, ImageError)]
    pixels = np.empty((len(keep), size[1], size[0], 3), dtype=np.uint8)
    for row, i in enumerate(keep):
        pixels[row] = results[i]
    return pixels, split.labels[keep], skipped
