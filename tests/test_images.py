"""load_image / image_size: every Pillow mode to RGB, EXIF orientation, crop vs stretch, draft mode, and errors."""

from __future__ import annotations

import gc
import io
import re
import warnings

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from edgecls.data.dataset import Split
from edgecls.data.decode import decode_split
from edgecls.data.images import ImageError, image_size, load_image
from edgecls.errors import EdgeclsError

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def noisy_jpeg(width: int = 64, height: int = 64) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "JPEG")


def assert_close(actual, expected, tolerance: int = 0) -> None:
    diff = np.abs(np.asarray(actual, np.int64) - np.asarray(expected, np.int64))
    assert diff.max() <= tolerance, f"{np.asarray(actual).tolist()} != {expected} (±{tolerance})"


def check_rgb(pixels: np.ndarray, height: int, width: int) -> None:
    assert pixels.dtype == np.uint8
    assert pixels.shape == (height, width, 3)


# --- modes --------------------------------------------------------------------------------------------------------

def test_rgb():
    pixels = load_image(encode(Image.new("RGB", (5, 3), (10, 20, 30))))
    check_rgb(pixels, 3, 5)
    assert (pixels == (10, 20, 30)).all()


def test_grayscale():
    pixels = load_image(encode(Image.new("L", (4, 2), 100)))
    check_rgb(pixels, 2, 4)
    assert (pixels == 100).all()


def test_la_alpha_is_composited_on_white():
    image = Image.new("LA", (2, 1))
    image.putpixel((0, 0), (100, 255))
    image.putpixel((1, 0), (100, 0))
    pixels = load_image(encode(image))
    check_rgb(pixels, 1, 2)
    assert pixels[0, 0].tolist() == [100, 100, 100]
    assert pixels[0, 1].tolist() == list(WHITE)


def test_rgba_alpha_is_composited_on_white():
    image = Image.new("RGBA", (3, 1))
    image.putpixel((0, 0), (255, 0, 0, 255))   # opaque red
    image.putpixel((1, 0), (255, 0, 0, 0))     # fully transparent: the colour underneath must not show
    image.putpixel((2, 0), (0, 0, 0, 128))     # half transparent black over white: mid grey
    pixels = load_image(encode(image))
    check_rgb(pixels, 1, 3)
    assert pixels[0, 0].tolist() == list(RED)
    assert pixels[0, 1].tolist() == list(WHITE)
    assert_close(pixels[0, 2], (127, 127, 127), tolerance=1)


def palette_image() -> Image.Image:
    image = Image.new("P", (2, 1))
    image.putpalette([*RED, *BLUE] + [0] * (256 - 2) * 3)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    return image


def test_palette_without_transparency():
    pixels = load_image(encode(palette_image()))
    check_rgb(pixels, 1, 2)
    assert pixels[0].tolist() == [list(RED), list(BLUE)]


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency(fmt):
    data = encode(palette_image(), fmt, transparency=1)
    assert Image.open(io.BytesIO(data)).mode == "P"
    pixels = load_image(data)
    check_rgb(pixels, 1, 2)
    assert pixels[0].tolist() == [list(RED), list(WHITE)]


def test_cmyk_jpeg():
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)  # magenta + yellow = red
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    pixels = load_image(data)
    check_rgb(pixels, 16, 16)
    assert_close(pixels, RED, tolerance=8)


def test_16_bit_grayscale_png_is_scaled_to_8_bits():
    values = np.array([[0, 32896, 65535]], np.uint16)  # 32896 = 128 * 257
    data = encode(Image.fromarray(values))
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    pixels = load_image(data)
    check_rgb(pixels, 1, 3)
    assert pixels[0, :, 0].tolist() == [0, 128, 255]
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 0] == pixels[..., 2]).all()


def test_dark_16_bit_image_is_not_mistaken_for_8_bit():
    data = encode(Image.fromarray(np.array([[200, 257]], np.uint16)))
    assert load_image(data)[0, :, 0].tolist() == [1, 1]


def test_one_bit():
    image = Image.new("1", (2, 1), 0)
    image.putpixel((1, 0), 1)
    pixels = load_image(encode(image))
    check_rgb(pixels, 1, 2)
    assert pixels[0].tolist() == [[0, 0, 0], list(WHITE)]


# --- EXIF orientation ---------------------------------------------------------------------------------------------

def oriented_jpeg(orientation: int | None) -> bytes:
    """40 wide x 20 high, blue with a red 10x10 square in the stored top-left corner."""
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 10, 10))
    if orientation is None:
        return encode(image, "JPEG", quality=95)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("orientation, shape, red_corner", [
    (None, (20, 40), "top-left"),
    (6, (40, 20), "top-right"),      # 6: rotate 90 degrees clockwise to display
    (8, (40, 20), "bottom-left"),    # 8: rotate 90 degrees counter-clockwise to display
])
def test_exif_orientation_is_applied(orientation, shape, red_corner):
    pixels = load_image(oriented_jpeg(orientation))
    check_rgb(pixels, *shape)
    corners = {"top-left": pixels[1:7, 1:7], "top-right": pixels[1:7, -7:-1],
               "bottom-left": pixels[-7:-1, 1:7], "bottom-right": pixels[-7:-1, -7:-1]}
    for corner, block in corners.items():
        assert_close(block, RED if corner == red_corner else BLUE, tolerance=40)


# --- fit ----------------------------------------------------------------------------------------------------------

def thirds(width: int = 90, height: int = 30) -> bytes:
    """Red left third, green centre, blue right third."""
    image = Image.new("RGB", (width, height), GREEN)
    image.paste(RED, (0, 0, width // 3, height))
    image.paste(BLUE, (2 * width // 3, 0, width, height))
    return encode(image)


def is_colour(pixels: np.ndarray, colour) -> np.ndarray:
    return (np.abs(pixels.astype(np.int64) - colour) <= 10).all(axis=-1)


def test_crop_keeps_the_centre_of_a_wide_image():
    pixels = load_image(thirds(), (30, 30), fit="crop")
    check_rgb(pixels, 30, 30)
    assert is_colour(pixels, GREEN).mean() > 0.9
    assert is_colour(pixels[:, 5:-5], GREEN).all()


def test_stretch_keeps_the_whole_of_a_wide_image():
    pixels = load_image(thirds(), (30, 30), fit="stretch")
    check_rgb(pixels, 30, 30)
    assert is_colour(pixels[:, :8], RED).all()
    assert is_colour(pixels[:, 12:18], GREEN).all()
    assert is_colour(pixels[:, -8:], BLUE).all()


def test_size_is_width_then_height():
    check_rgb(load_image(thirds(), (16, 8), fit="stretch"), 8, 16)
    check_rgb(load_image(thirds(), (16, 8), fit="crop"), 8, 16)


@pytest.mark.parametrize("size", [(90, 30), (30, 30)])
def test_unknown_fit_is_refused_whatever_the_image_size(size):
    with pytest.raises(EdgeclsError, match=r"fit must be one of crop, stretch; received 'pad'"):
        load_image(thirds(), size, fit="pad")


# --- draft mode ---------------------------------------------------------------------------------------------------

def test_large_jpeg_with_small_target_is_decoded_in_draft_mode(monkeypatch):
    image = Image.new("RGB", (800, 600), RED)
    image.paste(GREEN, (400, 0, 800, 300))
    image.paste(BLUE, (0, 300, 400, 600))
    data = encode(image, "JPEG", quality=90)

    drafted = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    pixels = load_image(data, (40, 40), fit="stretch")
    check_rgb(pixels, 40, 40)
    assert len(drafted) == 1
    width, height = drafted[0]
    assert 80 <= width <= 400 and 60 <= height <= 300, drafted  # reduced, but still twice the target or more
    assert_close(pixels[2:18, 2:18], RED, tolerance=12)
    assert_close(pixels[2:18, 22:38], GREEN, tolerance=12)
    assert_close(pixels[22:38, 2:18], BLUE, tolerance=12)
    assert_close(pixels[22:38, 22:38], RED, tolerance=12)


def test_no_draft_without_a_target_size(monkeypatch):
    drafted = []
    original = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, mode, size: drafted.append(size) or original(self, mode, size))
    check_rgb(load_image(encode(Image.new("RGB", (800, 600), RED), "JPEG")), 600, 800)
    assert drafted == []


# --- errors -------------------------------------------------------------------------------------------------------

def bad_file(tmp_path, kind: str):
    if kind == "missing":
        return tmp_path / "missing.jpg", "no such file"
    if kind == "folder":
        folder = tmp_path / "photos.jpg"
        folder.mkdir()
        return folder, "is a folder"
    path = tmp_path / {"empty": "empty.jpg", "truncated": "cut.jpg", "text": "notes.jpg"}[kind]
    if kind == "empty":
        path.write_bytes(b"")
        return path, "empty file"
    if kind == "truncated":
        data = noisy_jpeg()
        path.write_bytes(data[: len(data) // 2])
        return path, "truncated"
    path.write_text("these are notes, not a photo\n")
    return path, "not an image"


@pytest.mark.parametrize("kind", ["empty", "truncated", "text", "missing", "folder"])
def test_unusable_files_raise_one_line_image_error(tmp_path, kind):
    path, reason = bad_file(tmp_path, kind)
    with pytest.raises(ImageError) as caught:
        load_image(path, (8, 8))
    message = str(caught.value)
    assert isinstance(caught.value, EdgeclsError)
    assert message.startswith(f"{path}: ")
    assert reason in caught.value.reason
    assert caught.value.name == str(path)
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["empty", "truncated", "text"])
def test_unusable_bytes_raise_image_error_with_the_given_name(tmp_path, kind):
    path, reason = bad_file(tmp_path, kind)
    with pytest.raises(ImageError, match=r"^upload\.jpg: ") as caught:
        load_image(path.read_bytes(), name="upload.jpg")
    assert reason in caught.value.reason


def test_anonymous_bytes_are_named(tmp_path):
    with pytest.raises(ImageError, match=r"^<bytes>: empty file$"):
        load_image(b"")


def unclosed_files(action) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_files_are_closed_even_when_decoding_fails(tmp_path):
    path, _ = bad_file(tmp_path, "truncated")

    def fail():
        with pytest.raises(ImageError):
            load_image(path)

    assert unclosed_files(fail) == []


# --- decompression bombs ------------------------------------------------------------------------------------------

@pytest.fixture
def small_pixel_limit(monkeypatch):
    """Pillow's limit, which edgecls enforces: Pillow itself only warns up to twice it, edgecls refuses."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)


def test_image_at_the_pixel_limit_loads(small_pixel_limit):
    check_rgb(load_image(encode(Image.new("RGB", (10, 10)))), 10, 10)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("size", [(11, 10), (30, 30)])  # where Pillow only warns, and where it raises
def test_image_over_the_pixel_limit_is_refused(small_pixel_limit, size):
    data = encode(Image.new("RGB", size))
    for call in (lambda: load_image(data, name="bomb.png"), lambda: image_size(data, name="bomb.png")):
        with pytest.raises(ImageError, match=r"^bomb\.png: .*limit 100\b.*decompression bomb") as caught:
            call()
        assert "\n" not in str(caught.value)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixel_limit_holds_when_decoding_from_many_threads(small_pixel_limit):
    # Turning Pillow's warning into an error with warnings.catch_warnings is not thread-safe: the filters are
    # process-wide, so one thread leaving the block let another's over-limit image through now and then.
    data = encode(Image.new("RGB", (11, 10)))
    count = 4000
    split = Split(np.zeros(count), [f"bomb{i}.png" for i in range(count)], read=lambda i: data)
    pixels, labels, skipped = decode_split(split, (8, 8), workers=8)
    assert len(pixels) == len(labels) == 0
    assert len(skipped) == count
    assert all("decompression bomb" in reason for _, reason in skipped)


# --- image_size ---------------------------------------------------------------------------------------------------

def test_image_size_reads_width_and_height(tmp_path):
    data = encode(Image.new("RGB", (30, 10)))
    path = tmp_path / "wide.png"
    path.write_bytes(data)
    assert image_size(data) == (30, 10)
    assert image_size(path) == (30, 10)
    assert image_size(str(path)) == (30, 10)


def test_image_size_reads_the_header_only():
    data = noisy_jpeg(64, 48)
    assert image_size(data[: len(data) // 2]) == (64, 48)  # undecodable, but the header is intact


def test_image_size_closes_the_file(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(encode(Image.new("RGB", (3, 2))))
    assert unclosed_files(lambda: image_size(path)) == []


def test_image_size_errors_name_the_file(tmp_path):
    path, _ = bad_file(tmp_path, "text")
    with pytest.raises(ImageError, match=rf"^{re.escape(str(path))}: not an image"):
        image_size(path)
