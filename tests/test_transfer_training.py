"""Two-phase transfer learning on real photos with real ImageNet weights (needs ../shared)."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import SHARED

pytestmark = [pytest.mark.tf, pytest.mark.shared]

WEIGHTS = SHARED / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def test_two_phase_mobilenetv2_on_animals10_sample(tmp_path):
    from edgecls.train.trainer import config_from, train

    config = config_from("mobilenetv2-animals10", {
        "data": str(SHARED / "datasets" / "animals10-sample.zip"), "epochs": 8, "fine_tune_epochs": 2,
        "model_options": {"weights": str(WEIGHTS), "alpha": 1.0, "head": "dense", "base_size": 96},
        "val_fraction": 0.2, "batch_size": 16})
    report = train(config, tmp_path / "run", command="pytest")
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(10))  # phase 1 then phase 2, one history
    best_val = max(float(r["val_accuracy"]) for r in rows)
    print(f"two-phase MobileNetV2 1.0 on the Animals-10 sample: best val_accuracy {best_val:.3f}, "
          f"test accuracy {report['accuracy']:.3f} on {report['count']} images")
    assert best_val >= 0.4 and report["accuracy"] >= 0.4  # chance is 0.1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["fine_tune_epochs"] == 2
