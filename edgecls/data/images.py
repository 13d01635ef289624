"""Decoding any image file to RGB pixels of the size a model expects.

This module is the one place where pixels are prepared, for training data and for the edge runtime alike,
so a model sees the same thing in both. It needs only Pillow and numpy.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from edgecls.errors import EdgeclsError

FITS = ("crop", "stretch")


class ImageError(EdgeclsError):
    """A file that could not be used as an image; the message names the file and the reason."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def open_image(data: bytes | str | Path, name: str | None = None) -> Image.Image:
    """Open ``data`` (bytes or a path) and check it is an image Pillow can decode, without decoding it yet."""
    name = name or (str(data) if not isinstance(data, bytes) else "<bytes>")
    try:
        if isinstance(data, bytes):
            if not data:
                raise ImageError(name, "empty file")
            fp: io.BytesIO | str | Path = io.BytesIO(data)
        else:
            if Path(data).stat().st_size == 0:
                raise ImageError(name, "empty file")
            fp = data
        image = Image.open(fp)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(name, "no such file") from None
    except IsADirectoryError:
        raise ImageError(name, "is a folder, not an image") from None
    except Image.UnidentifiedImageError:
        raise ImageError(name, "not an image Pillow can read") from None
    except Image.DecompressionBombError:
        raise _bomb(name) from None
    except OSError as exc:
        raise ImageError(name, f"cannot read: {exc}") from None
    # Refuse images whose pixel count would take gigabytes to decode (decompression bombs). Pillow only warns
    # between its limit and twice it; we refuse from the limit on, checking here rather than turning the warning
    # into an error, because warning filters are process-wide and decode_split opens images from many threads.
    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > limit:
        image.close()
        raise _bomb(name)
    return image


def _bomb(name: str) -> ImageError:
    return ImageError(name, f"too many pixels (limit {Image.MAX_IMAGE_PIXELS:,}); "
                            "refusing a possible decompression bomb")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: alpha is composited on white, 16-bit and float are scaled down."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or pixels.max(initial=0) > 255 else 255.0
        pixels = np.clip(pixels * (255.0 / top), 0, 255).round().astype(np.uint8)
        image = Image.fromarray(pixels, "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
        canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(canvas, image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def fit_size(image: Image.Image, size: tuple[int, int], fit: str) -> Image.Image:
    """Resize to ``size`` (width, height): ``crop`` takes the largest centred box of the target's aspect ratio
    first (what a square-input classifier wants from a photo); ``stretch`` ignores the aspect ratio."""
    if fit not in FITS:
        raise EdgeclsError(f"fit must be one of {', '.join(FITS)}; received {fit!r}")
    if image.size == size:
        return image
    w, h = image.size
    box = (0.0, 0.0, float(w), float(h))
    if fit == "crop":
        target = size[0] / size[1]
        if w / h > target:
            cw = h * target
            box = ((w - cw) / 2, 0.0, (w + cw) / 2, float(h))
        else:
            ch = w / target
            box = (0.0, (h - ch) / 2, float(w), (h + ch) / 2)
    # reducing_gap: downscale by whole factors first (fast, box filter), then a bilinear resize that still
    # averages over the remaining gap, so a large photo does not alias.
    return image.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)


def load_image(data: bytes | str | Path, size: tuple[int, int] | None = None, fit: str = "crop",
               name: str | None = None) -> np.ndarray:
    """Decode ``data`` to an H x W x 3 uint8 array, EXIF orientation applied, resized to ``size`` if given.

    Large JPEGs are decoded at a reduced scale (draft mode) when the target is much smaller, so a
    12-megapixel photo does not cost a full decode.
    """
    name = name or (str(data) if not isinstance(data, bytes) else "<bytes>")
    image = source = open_image(data, name)
    try:
        if size is not None and image.format == "JPEG":
            # Keep at least twice the target so the final resize still averages over several pixels.
            image.draft("RGB", (size[0] * 2, size[1] * 2))
        image = ImageOps.exif_transpose(image) or image
        image = to_rgb(image)
        if size is not None:
            image = fit_size(image, size, fit)
        return np.asarray(image, dtype=np.uint8)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(name, f"cannot decode: {exc}") from None
    finally:
        source.close()  # a path opened by Pillow stays open when decoding fails


def image_size(data: bytes | str | Path, name: str | None = None) -> tuple[int, int]:
    """Width and height from the header only (no decode)."""
    with open_image(data, name) as image:
        return image.size
