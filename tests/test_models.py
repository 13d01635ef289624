"""Every registered model trains one step, saves, reloads safely and converts to TFLite with the same answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SMALL_TRANSFER

from edgecls.cli import cli
from edgecls.models import create_model, list_models

pytestmark = pytest.mark.tf

CUSTOM = [e.name for e in list_models() if e.kind == "custom"]
ROUND_TRIP = [e.name for e in list_models()]
SHAPE, CLASSES = (32, 32, 3), 10


def options_for(name: str) -> dict:
    # Transfer bases at their smallest, random weights, the cheapest head; ImageNet weights are tested elsewhere.
    if name in SMALL_TRANSFER:
        return {"weights": "none", "head": "linear", **SMALL_TRANSFER[name]}
    return {}


def keras():
    from edgecls._tf import keras

    return keras()


@pytest.fixture(autouse=True)
def fresh_session():
    yield
    keras().backend.clear_session()


def pixels(n: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, *SHAPE)).astype(np.float32)


def run_tflite(flat: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flat)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_train_save_reload_convert(name, tmp_path):
    from edgecls.convert.converter import to_tflite
    from edgecls.convert.quantization import Quantization
    from edgecls.models.checks import load_model, refuse_lambda, save_model

    k = keras()
    model = create_model(name, SHAPE, CLASSES, **options_for(name))
    x = pixels()
    y = k.utils.to_categorical(np.arange(len(x)) % CLASSES, CLASSES)
    before = [w.numpy().copy() for w in model.trainable_weights]
    # Plain SGD keeps no slots, so the big bases save and reload in seconds; eager mode skips tracing for one step.
    model.compile(optimizer=k.optimizers.SGD(0.1), loss="categorical_crossentropy", run_eagerly=True)
    assert np.isfinite(model.train_on_batch(x, y))
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)), "no weight moved"
    refuse_lambda(model, name)

    path = tmp_path / f"{name}.keras"
    save_model(model, path)
    reloaded = load_model(path)
    expected = model(x, training=False).numpy()
    assert expected.shape == (len(x), CLASSES)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(reloaded(x, training=False).numpy(), expected)

    flat = to_tflite(model, Quantization.for_float32())
    # XNNPACK sums in its own order, and over fifty random-weight layers (ResNet50 after one SGD step at 0.1) float32
    # drifts by ~1.5e-4 in a probability on some CPUs. 1e-3 still catches a lost layer or a wrong normalization,
    # which move probabilities by far more.
    np.testing.assert_allclose(run_tflite(flat, x), expected, atol=1e-3)


def op_names(flat: bytes) -> set[str]:
    from ai_edge_litert.interpreter import Interpreter

    return {op["op_name"] for op in Interpreter(model_content=flat)._get_ops_details()}


def test_airnet_w_takes_gelu_and_int8_tflite_runs_it_as_one_op(tmp_path):
    from edgecls.convert.converter import representative_data, to_tflite
    from edgecls.convert.quantization import Quantization
    from edgecls.errors import EdgeclsError
    from edgecls.models.checks import load_model, save_model

    k = keras()
    model = create_model("airnet-w", SHAPE, CLASSES, activation="gelu")
    activations = [layer for layer in model.layers if isinstance(layer, (k.layers.ReLU, k.layers.Activation))]
    # the stem and two per block, all GELU
    assert [layer.get_config()["activation"] for layer in activations] == ["gelu"] * 7
    x = pixels()
    path = tmp_path / "airnet-w-gelu.keras"
    save_model(model, path)
    np.testing.assert_array_equal(load_model(path)(x, training=False).numpy(), model(x, training=False).numpy())

    flat = to_tflite(model, Quantization.for_int8(representative_data(x)))
    assert "GELU" in op_names(flat) and "RELU" not in op_names(flat)
    with pytest.raises(EdgeclsError, match="airnet-w: activation must be one of relu, gelu; received activation='elu'"):
        create_model("airnet-w", SHAPE, CLASSES, activation="elu")


def test_airnet_w_takes_its_widths_from_the_command_line():
    from edgecls.errors import EdgeclsError

    k = keras()
    model = create_model("airnet-w", SHAPE, CLASSES, widths=[16, 48, 40])   # as --model-option widths=[16,48,40]
    convs = [layer for layer in model.layers if isinstance(layer, k.layers.Conv2D) and layer.name != "whiten"]
    assert [layer.filters for layer in convs] == [16, 16, 48, 48, 40, 40]
    assert model(pixels(), training=False).shape == (len(pixels()), CLASSES)
    for bad in ([64, 256], [64, 256, 0], [64, 256.5, 256], "64,256,256"):
        with pytest.raises(EdgeclsError, match="airnet-w: widths must be three positive whole numbers"):
            create_model("airnet-w", SHAPE, CLASSES, widths=bad)


def non_trainable(model) -> int:
    return sum(int(w.shape.num_elements()) for w in model.non_trainable_weights)


def test_vgg6_matches_the_seed_parameter_count():
    assert create_model("vgg6", SHAPE, CLASSES).count_params() == 2_196_810


def test_vgg6_bn_matches_the_seed_parameter_count():
    model = create_model("vgg6-bn", SHAPE, CLASSES)
    assert model.count_params() == 2_200_394
    assert non_trainable(model) == 1_792


def test_cnn_baseline_grayscale_is_a_fixed_bt601_layer(tmp_path):
    k = keras()
    model = create_model("cnn-baseline", SHAPE, CLASSES, grayscale=True)
    layer = model.get_layer("grayscale")
    assert not layer.trainable_weights
    x = pixels(2)
    gray = k.Model(model.input, layer.output)(x).numpy()
    np.testing.assert_allclose(gray[..., 0], (x @ np.array([0.299, 0.587, 0.114], np.float32)) / 255, atol=1e-6)
    # A gray image replicated on three channels is its own luma, so the model cannot tell them apart.
    replicated = np.repeat(gray * 255, 3, axis=-1)
    np.testing.assert_allclose(model(replicated).numpy(), model(x).numpy(), atol=1e-5)

    path = tmp_path / "gray.keras"
    model.save(path)
    reloaded = k.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(reloaded.get_layer("grayscale").get_weights()[0], layer.get_weights()[0])


def test_grayscale_needs_rgb_input():
    from edgecls.errors import EdgeclsError

    with pytest.raises(EdgeclsError, match=r"3 channels; received input shape \(32, 32, 1\)"):
        create_model("cnn-baseline", (32, 32, 1), CLASSES, grayscale=True)


@pytest.mark.parametrize("name", CUSTOM)
def test_layer_names_are_unique_and_deterministic(name):
    # Built twice in one session: any layer left to Keras' auto-naming would get a new suffix the second time.
    first = [layer.name for layer in create_model(name, SHAPE, CLASSES).layers]
    second = [layer.name for layer in create_model(name, SHAPE, CLASSES).layers]
    assert len(set(first)) == len(first)
    assert first == second


def test_models_list_json():
    # Only the vgg6 pair: without a pattern `--json` builds the transfer models too, which fetch ImageNet weights.
    result = CliRunner().invoke(cli, ["models", "list", "--json", "vgg6*"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == ["vgg6", "vgg6-bn"]
    assert all({"name", "kind", "params", "trainable_params", "source"} <= row.keys() for row in rows)
    assert rows[0]["params"] == rows[0]["trainable_params"] == 2_196_810
    assert (rows[1]["params"], rows[1]["trainable_params"]) == (2_200_394, 2_200_394 - 1_792)


def test_models_list_names_every_custom_model():
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0]: line.split()[1] for line in result.output.splitlines()}
    assert all(listed.get(name) == "custom" for name in CUSTOM)


def test_airnet_w_takes_airbench_batch_norm_settings():
    from edgecls.errors import EdgeclsError

    model = create_model("airnet-w", SHAPE, CLASSES, bn_momentum=0.6, bn_epsilon=1e-12)
    norms = [layer for layer in model.layers if isinstance(layer, keras().layers.BatchNormalization)]
    assert len(norms) == 6 and {(n.momentum, n.epsilon) for n in norms} == {(0.6, 1e-12)}
    default = create_model("airnet-w", SHAPE, CLASSES)
    assert {(n.momentum, n.epsilon) for n in default.layers
            if isinstance(n, keras().layers.BatchNormalization)} == {(0.9, 1e-3)}
    for bad in ({"bn_momentum": 1.0}, {"bn_momentum": "0.6"}, {"bn_epsilon": 0}):
        with pytest.raises(EdgeclsError, match="airnet-w: bn_"):
            create_model("airnet-w", SHAPE, CLASSES, **bad)
