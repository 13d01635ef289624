"""Mixed-precision training: the policy a run computes in, and the float32 model it always saves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import write_colour_dataset
from edgecls.errors import EdgeclsError
from edgecls.models.precision import cpu_has_bfloat16, precision_warning, resolve_policy


def test_bfloat16_support_is_read_from_the_cpu_flags(tmp_path):
    zen4 = tmp_path / "zen4"
    zen4.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n\n"
                    "processor\t: 1\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    old = tmp_path / "old"
    old.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    sapphire = tmp_path / "sapphire"
    sapphire.write_text("flags\t\t: avx512f amx_bf16 amx_tile\n")
    assert cpu_has_bfloat16(zen4) and cpu_has_bfloat16(sapphire)
    assert not cpu_has_bfloat16(old)
    assert not cpu_has_bfloat16(tmp_path / "missing")


def test_precision_settings_map_to_keras_policies():
    assert resolve_policy("auto", has_gpu=True) == "mixed_float16"
    assert resolve_policy("auto", has_gpu=False) == "float32"
    assert resolve_policy("bfloat16", has_gpu=False) == "mixed_bfloat16"
    assert resolve_policy("float32", has_gpu=True) == "float32"
    assert precision_warning("mixed_bfloat16", False, native_bfloat16=True) is None
    assert "no native bfloat16" in precision_warning("mixed_bfloat16", False, native_bfloat16=False)
    assert "emulated" in precision_warning("mixed_float16", False, native_bfloat16=True)
    assert precision_warning("float32", False, native_bfloat16=False) is None


def test_an_unknown_precision_is_one_clear_error():
    from edgecls.train.config import TrainConfig

    with pytest.raises(EdgeclsError, match="precision must be one of auto, float32, bfloat16, float16"):
        TrainConfig(model="tiny-test", data="x", precision="int4")


@pytest.mark.tf
def test_as_float32_copies_a_mixed_model_with_nested_parts():
    from edgecls._tf import keras
    from edgecls.models.checks import walk_layers
    from edgecls.models.precision import as_float32, compute_policy

    k = keras()
    with compute_policy("mixed_bfloat16"):
        inner_in = k.Input((8, 8, 3))
        inner = k.Model(inner_in, k.layers.Conv2D(4, 3, name="inner_conv")(inner_in), name="base")
        inputs = k.Input((8, 8, 3))
        x = k.layers.GlobalAveragePooling2D()(inner(inputs))
        outputs = k.layers.Softmax(dtype="float32")(k.layers.Dense(3)(x))
        mixed = k.Model(inputs, outputs)
    assert k.mixed_precision.global_policy().name == "float32"  # the block put the previous policy back
    assert "mixed_bfloat16" in {layer.dtype_policy.name for layer in walk_layers(mixed)}

    flat = as_float32(mixed)
    assert {layer.dtype_policy.name for layer in walk_layers(flat)} == {"float32"}
    for a, b in zip(mixed.get_weights(), flat.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(flat(x).numpy(), mixed(x).numpy(), atol=0.02)  # bfloat16 keeps ~3 digits
    assert as_float32(flat) is flat


@pytest.mark.tf
def test_bfloat16_training_saves_a_float32_model(tmp_path, capsys):
    from edgecls._tf import keras
    from edgecls.models.checks import load_model, walk_layers
    from edgecls.train.config import TrainConfig
    from edgecls.train.trainer import train

    data = write_colour_dataset(tmp_path / "colours", per_class=6)
    run_dir = tmp_path / "run"
    train(TrainConfig(model="tiny-test", data=str(data), epochs=1, batch_size=6, input_size=24, val_fraction=0.25,
                      augment="flip-crop", precision="bfloat16"), run_dir, command="pytest")
    assert "computing in mixed_bfloat16" in capsys.readouterr().err
    assert keras().mixed_precision.global_policy().name == "float32"  # nothing leaks into the next run
    model = load_model(run_dir / "model.keras")
    assert {layer.dtype_policy.name for layer in walk_layers(model)} == {"float32"}
    assert json.loads((run_dir / "config.json").read_text())["config"]["precision"] == "bfloat16"
    assert "accuracy" in json.loads((run_dir / "metrics.json").read_text())  # evaluated after the copy
