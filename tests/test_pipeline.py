"""The whole path on tiny data: train -> run folder -> convert -> edge runtime."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from edgecls import metadata as md
from edgecls.errors import EdgeclsError

pytestmark = pytest.mark.tf


def test_run_folder_is_complete(trained_run):
    run_dir, _ = trained_run
    for name in ("model.keras", "checkpoint.keras", "history.csv", "metrics.json", "config.json"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "backup").exists()  # a finished run keeps no resume state
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) >= {"accuracy", "precision_macro", "recall_macro", "f1_macro", "loss", "confusion_matrix"}
    assert np.array(metrics["confusion_matrix"]).sum() == metrics["count"] == 24
    config = json.loads((run_dir / "config.json").read_text())
    assert config["classes"] == ["blue", "green", "red"] and config["command"] == "pytest"
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert len(rows) == 1 and "val_accuracy" in rows[0]
    assert float(rows[0]["seconds"]) > 0  # the epoch's wall time, for training-time tables


def test_model_reloads_in_safe_mode_with_identical_outputs(trained_run):
    from edgecls._tf import keras

    run_dir, _ = trained_run
    k = keras()
    a = k.models.load_model(run_dir / "model.keras", safe_mode=True)
    b = k.models.load_model(run_dir / "model.keras", safe_mode=True)
    x = np.random.default_rng(1).integers(0, 255, (4, 24, 24, 3)).astype(np.float32)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))


def test_every_format_converts_with_metadata_and_manifest(trained_run):
    _, out = trained_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["format"] for m in manifest] == ["fp32", "fp16", "dynamic", "int8"]
    by_format = {m["format"]: m for m in manifest}
    assert by_format["int8"]["input_dtype"] == "uint8" and by_format["int8"]["output_dtype"] == "uint8"
    assert by_format["fp32"]["input_dtype"] == "float32"
    for entry in manifest:
        path = out / entry["path"]
        assert path.stat().st_size == entry["size_bytes"]
        meta = md.read(path)
        assert meta.labels == ["blue", "green", "red"]
        assert (meta.input.width, meta.input.height) == (24, 24)
        assert meta.format == entry["format"] and meta.name == "tiny-test"
        assert meta.accuracy["top1"] == entry["top1"] and meta.accuracy["count"] == 12
        assert meta.recipe["model"] == "tiny-test"


def test_runtime_preprocessing_matches_the_keras_model(trained_run, tmp_path):
    """The same photo through the edge runtime (fp32 file) and through the Keras model gives the same output."""
    from PIL import Image

    from edgecls._tf import keras
    from edgecls.runtime import Classifier

    run_dir, out = trained_run
    rng = np.random.default_rng(3)
    photo = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 255, (50, 80, 3), dtype=np.uint8)).save(photo)
    classifier = Classifier(out / "tiny-test-fp32.tflite")
    pixels = classifier.prepare(photo)
    assert pixels.shape == (24, 24, 3) and pixels.dtype == np.uint8
    runtime_probs, _ = classifier.probabilities(pixels)
    model = keras().models.load_model(run_dir / "model.keras", safe_mode=True)
    keras_probs = model.predict(pixels[None].astype(np.float32), verbose=0)[0]
    np.testing.assert_allclose(runtime_probs, keras_probs, atol=1e-5)


def test_int8_file_classifies_like_keras(trained_run):
    from edgecls._tf import keras
    from edgecls.runtime import Classifier

    run_dir, out = trained_run
    classifier = Classifier(out / "tiny-test-int8.tflite")
    assert classifier.input["dtype"] == np.uint8
    x = np.stack([np.full((24, 24, 3), c, np.uint8) for c in [(220, 30, 30), (30, 200, 40), (30, 40, 210)]])
    int8 = classifier.predict(x)
    model = keras().models.load_model(run_dir / "model.keras", safe_mode=True)
    ref = model.predict(x.astype(np.float32), verbose=0)
    assert np.abs(int8 - ref).max() < 0.05
    assert np.allclose(int8.sum(axis=1), 1.0, atol=0.05)


def test_lambda_layers_are_refused_at_conversion(tmp_path):
    from edgecls._tf import keras
    from edgecls.models.checks import refuse_lambda

    k = keras()
    inputs = k.Input((8, 8, 3))
    model = k.Model(inputs, k.layers.Lambda(lambda x: x / 255.0, name="scale_lambda")(inputs))
    with pytest.raises(EdgeclsError, match="scale_lambda.*Lambda"):
        refuse_lambda(model, "m.keras")


def test_unknown_format_is_refused_before_any_work(trained_run, tmp_path):
    from edgecls.convert.converter import ConvertOptions, convert

    run_dir, _ = trained_run
    with pytest.raises(EdgeclsError, match="unknown format 'int4'"):
        convert(run_dir, tmp_path / "x", ConvertOptions(formats=("int4",)))
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("fmt", ["fp32", "fp16", "dynamic", "int8", "qat"])
def test_every_format_classifies_through_the_cli_and_inspects(trained_run, tmp_path, fmt, request):
    from click.testing import CliRunner
    from PIL import Image

    from edgecls.cli import cli

    out = request.getfixturevalue("qat_converted")[0] if fmt == "qat" else trained_run[1]
    model = out / f"tiny-test-{fmt}.tflite"
    photo = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (220, 30, 30)).save(photo)
    result = CliRunner().invoke(cli, ["classify", "--model", str(model), "--json", "--top-k", "3", str(photo)])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output.strip().splitlines()[-1])
    assert sorted(c["label"] for c in row["top"]) == ["blue", "green", "red"]
    shown = CliRunner().invoke(cli, ["inspect", "--json", str(model)])
    info = json.loads(shown.output[shown.output.index("{"):])
    assert info["metadata"]["format"] == fmt and info["metadata"]["labels"] == ["blue", "green", "red"]


@pytest.mark.parametrize("preset", ["flip", "flip-crop", "flip-rotate-zoom", "flip-crop-scale", "flip-crop-cutout"])
def test_augmentation_presets_keep_shape_and_range_and_change_pixels(preset):
    from edgecls.train.pipeline import make_dataset

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(16) % 2
    x, y = next(iter(make_dataset(pixels, labels, 2, 16, training=True, augment=preset)))
    x = x.numpy()
    assert x.shape == (16, 32, 32, 3) and y.shape == (16, 2)
    assert x.min() >= 0 and x.max() <= 255
    # training shuffles the batch, so compare sorted per-image sums: augmentation moves pixels around
    assert not np.allclose(np.sort(x.reshape(16, -1), axis=1), np.sort(pixels.reshape(16, -1), axis=1))


def test_a_training_epoch_gives_every_image_once_with_its_own_label_in_a_new_order():
    from edgecls.train.pipeline import make_dataset

    n = 50
    pixels = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 4, 4, 3), dtype=np.uint8)
    labels = np.arange(n) % 7
    ds = make_dataset(pixels, labels, 7, 16, training=True, seed=3)
    orders = []
    for _ in range(2):
        batches = list(ds)
        assert [len(y) for _, y in batches] == [16, 16, 16, 2]
        ids = np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in batches]).astype(int)
        got = np.concatenate([y.numpy().argmax(axis=1) for _, y in batches])
        assert sorted(ids) == list(range(n)) and np.array_equal(got, labels[ids])
        orders.append(ids)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[0], np.arange(n))
    kept = [len(y) for _, y in make_dataset(pixels, labels, 7, 16, drop_remainder=True)]
    assert kept == [16, 16, 16]


def test_the_crop_shifts_by_whole_pixels_without_blurring():
    from edgecls.train.pipeline import augmenter

    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (32, 32, 32, 3)).astype(np.float32)
    out = augmenter("flip-crop", seed=0)(images, training=True).numpy()
    assert not np.array_equal(out, images) and not np.array_equal(out, images[:, :, ::-1])
    for before, after in zip(images, out):
        # a whole-pixel shift (with reflected borders) only moves pixels; interpolation would mix them
        assert set(map(tuple, after.reshape(-1, 3))) <= set(map(tuple, before.reshape(-1, 3)))


def test_cutout_fills_one_square_per_image_with_its_mean_colour_and_keeps_the_rest():
    from edgecls.train.pipeline import CUTOUT_SIDE, augmenter

    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (64, 32, 32, 3)).astype(np.float32)
    cutout = augmenter("flip-crop-cutout", seed=0).get_layer("cutout")
    np.testing.assert_array_equal(cutout(images, training=False).numpy(), images)
    out = cutout(images, training=True).numpy()
    sizes = []
    for before, after in zip(images, out):
        changed = np.any(before != after, axis=-1)
        rows, cols = np.nonzero(changed)
        sizes.append(changed.sum())
        if not len(rows):
            continue
        # one axis-aligned rectangle, no wider or taller than the side, filled with the image's mean colour
        assert rows.max() - rows.min() < CUTOUT_SIDE and cols.max() - cols.min() < CUTOUT_SIDE
        assert changed.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        np.testing.assert_allclose(after[changed], np.broadcast_to(before.mean(axis=(0, 1)), (changed.sum(), 3)),
                                   rtol=1e-5)
    # whole squares where the centre is far enough from the border, clipped ones elsewhere
    assert max(sizes) == CUTOUT_SIDE ** 2 and min(sizes) < CUTOUT_SIDE ** 2


def test_scale_augmentation_zooms_out():
    """Zoomed out with reflected borders, a frame-filling object shrinks and repeats: a one-pixel-wide bright
    frame at the border then shows up inside the image too."""
    from edgecls.train.pipeline import augmenter

    image = np.zeros((64, 32, 32, 3), np.float32)
    image[:, :, :2] = image[:, :, -2:] = 255.0
    out = augmenter("flip-crop-scale", seed=0)(image, training=True).numpy()
    inner = out[:, :, 6:-6].max(axis=(1, 2, 3))
    assert (inner > 128).mean() > 0.25


def test_alternating_flips_show_each_image_on_one_side_then_the_other():
    from edgecls.train.pipeline import make_dataset

    rng = np.random.default_rng(4)
    n = 12
    pixels = rng.integers(0, 256, (n, 8, 8, 3)).astype(np.uint8)
    labels = np.arange(n)          # the label names the image
    ds = make_dataset(pixels, labels, n, 5, training=True, augment="flip", seed=1, flips="alternate")
    seen = {}                      # image -> sides per epoch (True: mirrored)
    batches = iter(ds)
    for epoch in range(4):
        for _ in range(3):         # 12 images in batches of 5: 3 batches an epoch, the last one short
            x, y = next(batches)
            for image, index in zip(x.numpy(), np.argmax(y.numpy(), axis=1)):
                mirrored = np.array_equal(image, pixels[index, :, ::-1].astype(np.float32))
                assert mirrored or np.array_equal(image, pixels[index].astype(np.float32))
                seen.setdefault(index, []).append(mirrored)
    assert sorted(seen) == list(range(n))
    for sides in seen.values():
        assert sides[0] != sides[1] and sides[::2] == [sides[0]] * 2 and sides[1::2] == [sides[1]] * 2
    assert 0 < sum(sides[0] for sides in seen.values()) < n   # the first side is random, not the same for all


def test_crop_pixels_bounds_the_shift():
    from edgecls.train.pipeline import make_dataset

    n, side = 64, 16
    rows = np.broadcast_to(np.arange(side, dtype=np.uint8).reshape(1, side, 1, 1), (n, side, side, 3))
    labels = np.zeros(n, dtype=np.int64)

    def largest_shift(**options):
        x, _ = next(iter(make_dataset(rows.copy(), labels, 2, n, training=True, augment="flip-crop", **options)))
        centre = x.numpy()[:, side // 2, 0, 0]     # the middle row's value is its source row: no reflection here
        return int(np.abs(centre - side // 2).max())

    assert largest_shift(crop_pixels=1) == 1
    assert largest_shift() == 2                    # default: an eighth of the side


def test_flip_modes_are_checked():
    from edgecls.train.config import TrainConfig
    from edgecls.train.pipeline import make_dataset

    with pytest.raises(EdgeclsError, match="unknown flip mode 'alternating'. Did you mean 'alternate'"):
        make_dataset(np.zeros((2, 4, 4, 3), np.uint8), np.zeros(2), 2, 2, training=True, augment="flip",
                     flips="alternating")
    with pytest.raises(EdgeclsError, match="flips must be one of random, alternate"):
        TrainConfig(model="tiny-test", data="x", flips="sometimes")
    with pytest.raises(EdgeclsError, match="crop pixels must be a positive whole number; received 0"):
        TrainConfig(model="tiny-test", data="x", crop_pixels=0)
