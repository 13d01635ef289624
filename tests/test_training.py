"""Training features that need a real process: resume after SIGKILL, MirroredStrategy, recipes."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap

import pytest

from conftest import write_colour_dataset
from edgecls.errors import EdgeclsError

pytestmark = pytest.mark.tf


def run_python(code: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


def test_a_killed_run_resumes_with_its_optimizer_state(tmp_path):
    data = write_colour_dataset(tmp_path / "colours", per_class=8)
    run_dir = tmp_path / "run"
    # The first process kills itself with SIGKILL in the middle of epoch 3 (index 2).
    killed = run_python(f"""
        import os, signal
        from edgecls.train import callbacks
        from edgecls.train.config import TrainConfig
        from edgecls.train.trainer import train
        from edgecls._tf import keras

        class Kill(keras().callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if self.model.optimizer.iterations.numpy() > 2 * 3:   # 3 steps per epoch
                    os.kill(os.getpid(), signal.SIGKILL)

        original = callbacks.standard_callbacks
        callbacks.standard_callbacks = lambda *a, **k: original(*a, **k) + [Kill()]
        train(TrainConfig(model="tiny-test", data={str(data)!r}, epochs=5, batch_size=6, input_size=24,
                          val_fraction=0.25), {str(run_dir)!r}, command="first")
    """)
    assert killed.returncode == -9, killed.stderr[-2000:]
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert not (run_dir / "model.keras").exists()

    resumed = subprocess.run([sys.executable, "-m", "edgecls", "train", "--resume", str(run_dir)],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4]
    check = run_python(f"""
        from edgecls._tf import keras
        model = keras().models.load_model({str(run_dir / "model.keras")!r}, safe_mode=True)
        print(int(model.optimizer.iterations.numpy()))
    """)
    # 5 epochs of 3 steps: the optimizer state (its step counter among it) came back from the backup.
    assert check.stdout.strip() == "15", check.stderr[-2000:]


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    data = write_colour_dataset(tmp_path / "colours", per_class=4)
    result = run_python(f"""
        from edgecls._tf import tf
        t = tf()
        cpu = t.config.list_physical_devices("CPU")[0]
        t.config.set_logical_device_configuration(cpu, [t.config.LogicalDeviceConfiguration()] * 2)
        from edgecls.train.config import TrainConfig
        from edgecls.train.trainer import train
        report = train(TrainConfig(model="tiny-test", data={str(data)!r}, epochs=1, batch_size=2, input_size=24,
                                   distribute="mirrored"), {str(tmp_path / "run")!r}, command="mirrored")
        print(report["count"])
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "MirroredStrategy with 2 replica(s)" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == "12"


def test_recipes_load_and_overrides_win():
    from edgecls.train.recipes import recipe_names
    from edgecls.train.trainer import config_from

    assert "resnet9-xs-cifar10" in recipe_names()
    config = config_from("resnet9-xs-cifar10", {"epochs": 2, "data": "somewhere", "lr": None})
    assert config.epochs == 2 and config.data == "somewhere" and config.optimizer == "sgd"
    assert config.recipe == "resnet9-xs-cifar10"
    with pytest.raises(EdgeclsError, match="Did you mean 'resnet9-xs-cifar10'"):
        config_from("resnet9-xs-cifar", {})
    with pytest.raises(EdgeclsError, match="--model is required"):
        config_from(None, {"data": "x"})


def test_the_command_line_sets_sgd_momentum_over_the_recipe(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from edgecls.cli import cli
    from edgecls.train import trainer

    seen = {}
    monkeypatch.setattr(trainer, "train", lambda config, out, command=None: seen.update(config=config))
    args = ["train", "--recipe", "airnet-w-bf16-cifar10", "--data", "somewhere", "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(cli, args + ["--momentum", "0.9", "--batch-size", "256"])
    assert result.exit_code == 0, result.output
    assert seen["config"].momentum == 0.9 and seen["config"].batch_size == 256     # the recipe: 0.85, 1024
    assert seen["config"].optimizer == "sgd" and seen["config"].learning_rate == 1.2   # the rest from the recipe
    result = CliRunner().invoke(cli, args + ["--momentum", "1"])
    assert result.exit_code != 0 and "--momentum" in result.output


def test_every_recipe_is_a_valid_config_for_a_registered_model():
    from edgecls.models import list_models
    from edgecls.train.recipes import recipe_names
    from edgecls.train.trainer import config_from

    names, registered = recipe_names(), {e.name for e in list_models()}
    for seed in ("cnn-baseline", "cnn-rmsprop-dropout", "cnn3-bn", "cnn4-gap-l2", "vgg6", "vgg6-bn",
                 "cnn-dropout-ramp", "efficientnetb0-conv", "mobilenetv2"):
        assert any(name.startswith(seed) for name in names), seed
    for name in names:
        config = config_from(name, {})
        assert config.model in registered and config.epochs >= 1, name


def test_a_finished_run_folder_is_not_overwritten(trained_run):
    from edgecls.train.config import TrainConfig
    from edgecls.train.trainer import train

    run_dir, _ = trained_run
    with pytest.raises(EdgeclsError, match="already holds a run"):
        train(TrainConfig(model="tiny-test", data="unused"), run_dir)


def test_early_stopping_waits_until_a_scheduled_rate_has_halved(tmp_path):
    from edgecls._tf import keras
    from edgecls.train.callbacks import standard_callbacks
    from edgecls.train.config import TrainConfig
    from edgecls.train.optim import rate_falls_at

    onecycle = TrainConfig(model="tiny-test", data="x", epochs=60, schedule="onecycle", warmup_fraction=0.25)
    assert rate_falls_at(onecycle) == 38          # 15 warm-up epochs, then half of the 45 cosine ones
    assert rate_falls_at(TrainConfig(model="tiny-test", data="x", epochs=10, schedule="cosine")) == 5
    assert rate_falls_at(TrainConfig(model="tiny-test", data="x", epochs=10)) == 0
    phase2 = TrainConfig(model="tiny-test", data="x", epochs=10, schedule="onecycle", fine_tune_epochs=6)
    assert rate_falls_at(phase2, first_epoch=10) == 13

    config = TrainConfig(model="tiny-test", data="x", epochs=12, schedule="cosine", early_stopping_patience=2)
    stopper = next(c for c in standard_callbacks(config, tmp_path, 100)
                   if isinstance(c, keras().callbacks.EarlyStopping))
    model = keras().Sequential([keras().layers.Dense(1, input_shape=(1,))])
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch in range(12):   # validation accuracy only ever falls
        stopper.on_epoch_end(epoch, {"val_accuracy": 0.9 - 0.01 * epoch})
        if model.stop_training:
            break
    assert epoch == 8         # counting starts at epoch 6 (the rate halves there), then 2 epochs of patience


def test_the_linear_schedule_is_airbench_s_and_survives_saving(tmp_path):
    from edgecls._tf import keras
    from edgecls.train.config import TrainConfig
    from edgecls.train.optim import learning_rate, rate_falls_at

    config = TrainConfig(model="tiny-test", data="x", epochs=10, schedule="linear", warmup_fraction=0.2,
                         learning_rate=2.0)
    schedule = learning_rate(config, 100)
    rates = [float(schedule(step)) for step in (0, 10, 20, 60, 100, 150)]
    assert rates == pytest.approx([0.4, 1.2, 2.0, 2.0 - 1.86 * 0.5, 0.14, 0.14])
    assert rate_falls_at(config) == 7      # 2 warm-up epochs, then 0.5 / 0.93 of the 8 decaying ones

    model = keras().Sequential([keras().layers.Dense(1, input_shape=(1,))])
    model.compile(optimizer=keras().optimizers.SGD(schedule), loss="mse")
    model.save(tmp_path / "m.keras")
    loaded = keras().models.load_model(tmp_path / "m.keras", safe_mode=True, compile=True)
    saved = keras().optimizers.schedules.deserialize(loaded.optimizer.get_config()["learning_rate"])
    assert type(saved).__name__ == "LinearWarmupDecay" and float(saved(60)) == pytest.approx(1.07)
