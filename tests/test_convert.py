"""Conversion beyond the basics: QAT, the accuracy guard, Lambda refusal through the CLI, inspect."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from edgecls.cli import cli
from edgecls.errors import EdgeclsError

pytestmark = pytest.mark.tf


def test_qat_converts_a_registered_cnn(qat_converted):
    from edgecls.runtime import Classifier

    out, manifest = qat_converted
    assert manifest[0]["format"] == "qat" and manifest[0]["input_dtype"] == "uint8"
    classifier = Classifier(out / "tiny-test-qat.tflite")
    assert classifier.meta.format == "qat" and classifier.labels == ["blue", "green", "red"]
    assert classifier.predict(np.zeros((2, 24, 24, 3), np.uint8)).shape == (2, 3)


@pytest.mark.parametrize("name, options", [("cnn4-gap-l2", {}),
                                           ("mobilenetv2", {"weights": "none", "alpha": 0.35, "base_size": 32})])
def test_quantization_aware_training_runs_for_cnns_and_mobilenetv2(name, options):
    from edgecls.convert.converter import ConvertOptions, _int8, to_tflite
    from edgecls.convert.qat import QatOptions, flatten, quantization_aware
    from edgecls.models import create_model

    model = create_model(name, (32, 32, 3), 4, **options)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 4, 8)
    flat = flatten(model)
    np.testing.assert_allclose(flat.predict(x.astype(np.float32), verbose=0),
                               model.predict(x.astype(np.float32), verbose=0), atol=1e-5)
    qat = quantization_aware(model, x, y, 4, QatOptions(epochs=1, batch_size=8), log=lambda m: None)
    # batch norm kept its trained statistics through fine-tuning
    k = __import__("edgecls._tf", fromlist=["keras"]).keras()
    norms = [w for w in qat.layers if isinstance(getattr(w, "layer", w), k.layers.BatchNormalization)]
    assert norms and not any(w.trainable for w in norms)
    trained = {layer.name: layer for layer in flat.layers}
    for wrapper in norms:
        inner = getattr(wrapper, "layer", wrapper)
        np.testing.assert_allclose(inner.moving_mean.numpy(), trained[inner.name].moving_mean.numpy())
    tflite = to_tflite(qat, _int8(x.astype(np.float32), ConvertOptions()))
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite)
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8


def test_calibration_gives_the_quantizers_the_float_ranges():
    # A linear conv whose outputs reach far past tfmot's starting range of [-6, 6]: uncalibrated, the
    # quantization-aware copy clips them (and rounds its small kernel to zero in inference mode).
    from edgecls._tf import keras
    from edgecls.convert.qat import _tfmot, annotate, calibrate

    k, tfmot = keras(), _tfmot()
    inputs = k.Input((8, 8, 3))
    x = k.layers.Conv2D(4, 3, padding="same", name="wide")(inputs)
    x = k.layers.Conv2D(4, 1, name="small")(x)
    outputs = k.layers.Dense(2, name="out")(k.layers.GlobalAveragePooling2D(name="gap")(x))
    model = k.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.get_layer("wide").set_weights([rng.normal(0, 8, (3, 3, 3, 4)).astype(np.float32), np.zeros(4, np.float32)])
    model.get_layer("small").set_weights([rng.normal(0, 0.01, (1, 1, 4, 4)).astype(np.float32), np.zeros(4, np.float32)])
    x = rng.uniform(-1, 1, (32, 8, 8, 3)).astype(np.float32)
    with tfmot.quantization.keras.quantize_scope():
        qat = tfmot.quantization.keras.quantize_apply(annotate(model)[0])
    want = model.predict(x, verbose=0)

    def error():
        return np.abs(qat.predict(x, verbose=0) - want).max() / np.abs(want).max()

    assert error() > 0.2
    assert calibrate(qat, model, x) > 0
    assert error() < 0.05
    assert qat.get_layer("quant_wide").weights[-1].numpy() > 6  # an activation range, from the float model


def test_qat_gives_depthwise_kernels_a_range_per_channel():
    # tfmot alone keeps one range for a whole depthwise kernel: channels with small weights round to zero
    from ai_edge_litert.interpreter import Interpreter

    from edgecls._tf import keras
    from edgecls.convert.converter import ConvertOptions, _int8, to_tflite
    from edgecls.convert.qat import QatOptions, quantization_aware

    k = keras()
    inputs = k.Input((8, 8, 3))
    x = k.layers.ReLU(6.0)(k.layers.BatchNormalization()(k.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)))
    x = k.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    x = k.layers.ReLU(6.0)(k.layers.BatchNormalization()(x))
    model = k.Model(inputs, k.layers.Dense(3, activation="softmax")(k.layers.GlobalAveragePooling2D()(x)))
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 1, (3, 3, 4, 1)) * np.array([1e-3, 1e-2, 1e-1, 1.0])[None, None, :, None]
    model.get_layer("dw").set_weights([kernel.astype(np.float32)])
    pixels = rng.integers(0, 255, (16, 8, 8, 3), dtype=np.uint8)
    qat = quantization_aware(model, pixels, rng.integers(0, 3, 16), 3,
                             QatOptions(epochs=1, batch_size=8, calibration_samples=16), log=lambda m: None)
    ranges = [w for w in qat.weights if "depthwise_kernel_max" in w.name]
    assert len(ranges) == 1 and ranges[0].shape == (4,)
    interpreter = Interpreter(model_content=to_tflite(qat, _int8(pixels.astype(np.float32), ConvertOptions())))
    scales = [d["quantization_parameters"]["scales"] for d in interpreter.get_tensor_details()
              if d["dtype"] == np.int8 and list(d["shape"]) == [1, 3, 3, 4]]
    assert len(scales) == 1 and len(scales[0]) == 4
    assert scales[0].max() / scales[0].min() > 100  # one range shared by all four channels gives about 1


def test_a_model_exports_at_its_base_size_without_the_resize():
    from edgecls._tf import keras
    from edgecls.convert.resize import with_input_size

    k = keras()
    inputs = k.Input((8, 8, 3), name="pixels")
    x = k.layers.Resizing(16, 16, name="resize")(inputs)
    x = k.layers.Conv2D(4, 3, name="conv")(k.layers.Rescaling(1 / 255, name="scale")(x))
    model = k.Model(inputs, k.layers.Dense(2, name="out")(k.layers.GlobalAveragePooling2D(name="gap")(x)))
    big = with_input_size(model, 16)
    assert big.input_shape == (None, 16, 16, 3) and "resize" not in [layer.name for layer in big.layers]
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    layers = [model.get_layer(n) for n in ("scale", "conv", "gap", "out")]
    want = pixels
    for layer in layers:
        want = layer(want)
    np.testing.assert_allclose(big.predict(pixels, verbose=0), want.numpy(), atol=1e-5)
    # a size the base does not take keeps the Resizing layer, now resizing from 12x12
    assert "resize" in [layer.name for layer in with_input_size(model, 12).layers]

    flat = k.Sequential([k.Input((8, 8, 3)), k.layers.Flatten(), k.layers.Dense(2)], name="flat")
    with pytest.raises(EdgeclsError, match="flat: cannot take a 16x16 input"):
        with_input_size(flat, 16)


def test_a_large_drop_is_an_error_with_strict(trained_run, tmp_path):
    from edgecls.convert.converter import ConvertOptions, convert

    run_dir, _ = trained_run
    # A negative threshold flags every format, so --strict must refuse it.
    with pytest.raises(EdgeclsError, match="points below float.*QAT"):
        convert(run_dir, tmp_path, ConvertOptions(formats=("fp32",), threshold=-1.0, strict=True,
                                                  calibration_samples=4, verify_samples=6))


def test_a_lambda_model_is_refused_with_one_line(trained_run, tmp_path):
    from edgecls._tf import keras

    run_dir, _ = trained_run
    bad = tmp_path / "run"
    bad.mkdir()
    shutil.copy(run_dir / "config.json", bad / "config.json")
    k = keras()
    inputs = k.Input((24, 24, 3))
    x = k.layers.Lambda(lambda t: t / 255.0, name="scale_lambda")(inputs)
    outputs = k.layers.Dense(3, activation="softmax")(k.layers.GlobalAveragePooling2D()(x))
    k.Model(inputs, outputs).save(bad / "model.keras")
    result = subprocess.run([sys.executable, "-m", "edgecls", "convert", str(bad), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("edgecls: error:")]
    assert len(errors) == 1 and "Lambda" in errors[0] and "Rescaling" in errors[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "o").exists()


def test_inspect_shows_tensors_operators_and_metadata(trained_run):
    _, out = trained_run
    result = CliRunner().invoke(cli, ["inspect", "--json", str(out / "tiny-test-int8.tflite")])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output[result.output.index("{"):])
    assert info["inputs"][0]["dtype"] == "uint8" and info["inputs"][0]["quantization"]["scale"] == 1.0
    assert info["operators"].get("CONV_2D") == 1
    assert info["metadata"]["labels"] == ["blue", "green", "red"] and info["metadata"]["format"] == "int8"
    assert info["tflite_metadata"]
    text = CliRunner().invoke(cli, ["inspect", str(out / "tiny-test-fp32.tflite")]).output
    assert "float32" in text and "tiny-test (fp32)" in text and "labels  3: blue, green, red" in text


def test_flip_tta_averages_the_image_and_its_mirror_in_the_graph(trained_run, tmp_path):
    from edgecls.convert.converter import ConvertOptions, convert
    from edgecls.runtime import Classifier
    from edgecls.runtime.inspect import format_inspection, inspect_model

    run_dir, plain_dir = trained_run
    manifest = convert(run_dir, tmp_path, ConvertOptions(formats=("fp32", "int8"), calibration_samples=8,
                                                         verify_samples=12, tta="flip"))
    assert [m["format"] for m in manifest] == ["fp32", "int8"]
    tta, plain = Classifier(tmp_path / "tiny-test-fp32.tflite"), Classifier(plain_dir / "tiny-test-fp32.tflite")
    assert tta.meta.tta == "flip" and plain.meta.tta == "none"
    pixels = np.random.default_rng(3).integers(0, 256, (4, 24, 24, 3)).astype(np.uint8)
    mirror = pixels[:, :, ::-1]
    want = (plain.predict(pixels) + plain.predict(mirror)) / 2
    np.testing.assert_allclose(tta.predict(pixels), want, atol=1e-5)
    np.testing.assert_allclose(tta.predict(mirror), want, atol=1e-5)  # a mirrored photo gets the same answer
    assert not np.allclose(plain.predict(pixels), plain.predict(mirror), atol=1e-5)  # the plain model does not
    info = inspect_model(tmp_path / "tiny-test-int8.tflite")
    assert info["operators"].get("REVERSE_V2") == 1 and info["metadata"]["tta"] == "flip"
    assert "test-time augmentation flip in the graph" in format_inspection(info)


def test_flip_shift_tta_weighs_six_views_in_the_graph(trained_run, tmp_path):
    from edgecls.convert.converter import ConvertOptions, convert
    from edgecls.runtime import Classifier
    from edgecls.runtime.inspect import inspect_model

    run_dir, plain_dir = trained_run
    convert(run_dir, tmp_path, ConvertOptions(formats=("fp32", "int8"), calibration_samples=8, verify_samples=12,
                                              tta="flip-shift"))
    tta, plain = Classifier(tmp_path / "tiny-test-fp32.tflite"), Classifier(plain_dir / "tiny-test-fp32.tflite")
    assert tta.meta.tta == "flip-shift"
    pixels = np.random.default_rng(4).integers(0, 256, (3, 24, 24, 3)).astype(np.uint8)
    padded = np.pad(pixels, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    down_right, up_left = padded[:, :24, :24], padded[:, 2:, 2:]
    want = 0.0
    for view, weight in ((pixels, 0.25), (down_right, 0.125), (up_left, 0.125)):
        want = want + weight * (plain.predict(view) + plain.predict(view[:, :, ::-1]))
    np.testing.assert_allclose(tta.predict(pixels), want, atol=1e-5)
    assert not np.allclose(want, (plain.predict(pixels) + plain.predict(pixels[:, :, ::-1])) / 2, atol=1e-5)
    info = inspect_model(tmp_path / "tiny-test-int8.tflite")
    assert info["operators"].get("MIRROR_PAD") == 1 and info["metadata"]["tta"] == "flip-shift"


def test_an_unknown_tta_is_one_line():
    from edgecls._tf import keras
    from edgecls.convert.tta import with_tta

    k = keras()
    model = k.Sequential([k.Input((4, 4, 3)), k.layers.Flatten(), k.layers.Dense(2)], name="m")
    with pytest.raises(EdgeclsError, match="unknown test-time augmentation 'flp'. Did you mean 'flip'"):
        with_tta(model, "flp")
    assert with_tta(model, "none") is model


def test_qat_with_flip_tta(trained_run, tmp_path):
    from edgecls.convert.converter import ConvertOptions, convert
    from edgecls.runtime import Classifier

    run_dir, _ = trained_run
    convert(run_dir, tmp_path, ConvertOptions(formats=("qat",), calibration_samples=8, verify_samples=12,
                                              qat_epochs=1, tta="flip"))
    classifier = Classifier(tmp_path / "tiny-test-qat.tflite")
    assert classifier.meta.tta == "flip" and classifier.input["dtype"] == np.uint8


def test_qat_flattens_a_model_exported_at_a_larger_input():
    """with_input_size calls the layers a second time; flatten must follow the new graph, not the first call."""
    from edgecls._tf import keras
    from edgecls.convert.qat import annotate, flatten
    from edgecls.convert.resize import with_input_size

    k = keras()
    base_in = k.Input((16, 16, 3))
    base = k.Model(base_in, k.layers.Conv2D(4, 3, name="base_conv")(base_in), name="base")
    inputs = k.Input((8, 8, 3), name="pixels")
    x = base(k.layers.Resizing(16, 16, name="resize")(k.layers.Rescaling(1 / 255, name="scale")(inputs)))
    model = k.Model(inputs, k.layers.Dense(2, name="out")(k.layers.GlobalAveragePooling2D(name="gap")(x)))
    big = with_input_size(model, 16)
    flat = flatten(big)
    assert "resize" not in [layer.name for layer in flat.layers]
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(flat.predict(pixels, verbose=0), big.predict(pixels, verbose=0), atol=1e-5)
    annotate(flat)  # and tfmot can take it from there
