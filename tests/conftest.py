"""Shared fixtures: tiny synthetic datasets, the shared-data marker, and TensorFlow availability."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGECLS_SHARED", ROOT.parent / "shared"))
# The smallest valid build of each transfer base: 32 is the keras minimum (71 for Xception), alpha 0.35 the
# narrowest MobileNetV2. Random weights: these check plumbing, not accuracy.
SMALL_TRANSFER = {
    "mobilenetv2": {"base_size": 32, "alpha": 0.35},
    "efficientnetb0": {"base_size": 32},
    "efficientnet-lite0": {"base_size": 32},
    "vgg16": {"base_size": 32},
    "resnet50": {"base_size": 32},
    "xception": {"base_size": 71},
}
HAS_TF = importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("tf_keras") is not None

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 210)}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "shared" in item.keywords and not SHARED.is_dir():
            item.add_marker(pytest.mark.skip(reason=f"needs the shared data folder at {SHARED}"))
        if "tf" in item.keywords and not HAS_TF:
            item.add_marker(pytest.mark.skip(reason="needs TensorFlow: pip install 'edgecls[train]'"))


def write_colour_dataset(root: Path, per_class: int = 6, size: int = 24, splits=("train", "test")) -> Path:
    """Solid-colour images with a little noise, one folder per class (and per split)."""
    rng = np.random.default_rng(0)
    for split in splits:
        for name, rgb in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = np.clip(np.array(rgb) + rng.integers(-20, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture
def colour_data(tmp_path) -> Path:
    return write_colour_dataset(tmp_path / "colours")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A tiny model trained for one epoch on the colour data, and its int8 / fp32 conversions."""
    if not HAS_TF:
        pytest.skip("needs TensorFlow: pip install 'edgecls[train]'")
    from edgecls.convert.converter import ConvertOptions, convert
    from edgecls.train.config import TrainConfig
    from edgecls.train.trainer import train

    base = tmp_path_factory.mktemp("run")
    data = write_colour_dataset(base / "colours", per_class=8)
    run_dir = base / "run"
    config = TrainConfig(model="tiny-test", data=str(data), epochs=1, batch_size=8, learning_rate=0.05, input_size=24,
                         val_fraction=0.25)
    train(config, run_dir, command="pytest")
    out = base / "converted"
    convert(run_dir, out, ConvertOptions(formats=("fp32", "fp16", "dynamic", "int8"), calibration_samples=12,
                                         verify_samples=12))
    return run_dir, out


@pytest.fixture(scope="session")
def qat_converted(trained_run, tmp_path_factory):
    """The tiny model of ``trained_run`` through one epoch of quantization-aware training: (folder, manifest)."""
    from edgecls.convert.converter import ConvertOptions, convert

    run_dir, _ = trained_run
    out = tmp_path_factory.mktemp("qat")
    manifest = convert(run_dir, out, ConvertOptions(formats=("qat",), calibration_samples=8, verify_samples=12,
                                                    qat_epochs=1))
    return out, manifest
