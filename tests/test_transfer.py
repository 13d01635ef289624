"""Transfer models: every base builds frozen from real layers, preprocesses exactly as keras does, serializes safely,
and unfreezes its top for fine-tuning. Nothing here downloads weights."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, SMALL_TRANSFER, write_colour_dataset

from edgecls.errors import EdgeclsError
from edgecls.models import create_model, list_models

pytestmark = pytest.mark.tf

SHAPE, CLASSES = (32, 32, 3), 10
# The keras.applications bases; efficientnet-lite0 has its own builder and tests (test_efficientnet_lite.py).
SMALL = {name: options for name, options in SMALL_TRANSFER.items() if name != "efficientnet-lite0"}
# The keras.applications module holding each base's preprocess_input.
MODULES = {"mobilenetv2": "mobilenet_v2", "efficientnetb0": "efficientnet", "vgg16": "vgg16",
           "resnet50": "resnet50", "xception": "xception"}
MOBILENET_H5 = SHARED / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def keras():
    from edgecls._tf import keras

    return keras()


def pixels(n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, *SHAPE)).astype(np.float32)


def small(name: str, **options):
    return create_model(name, SHAPE, CLASSES, **{"weights": "none", "head": "linear", **SMALL[name], **options})


def layer_names(model) -> list[str]:
    return [layer.name for layer in model.layers]


@pytest.fixture(scope="module")
def models():
    """One small linear-head model per base, built once and only read by the tests that share it."""
    return {name: small(name) for name in SMALL}


def test_every_transfer_model_is_registered():
    # efficientnet-lite0 has its own builder and tests (test_efficientnet_lite.py).
    assert sorted(e.name for e in list_models() if e.kind == "transfer") == sorted([*SMALL, "efficientnet-lite0"])


@pytest.mark.parametrize("name", SMALL)
def test_builds_frozen_from_real_layers(models, name):
    from edgecls.models.checks import refuse_lambda

    model = models[name]
    refuse_lambda(model, name)
    assert model.get_layer("base").trainable is False
    assert [layer.name for layer in model.layers if layer.trainable_weights] == ["logits"]
    assert ("resize" in layer_names(model)) == (name == "xception")  # only when the sizes differ
    probabilities = model(pixels(), training=False).numpy()
    assert probabilities.shape == (4, CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", SMALL)
def test_preprocessing_matches_keras_preprocess_input(models, name):
    k = keras()
    model = models[name]
    fed = model.layers[layer_names(model).index("base") - 1].output  # what the base receives
    x = pixels()
    ours = k.Model(model.input, fed)(x, training=False).numpy()
    if "resize" in layer_names(model):
        x = model.get_layer("resize")(x).numpy()
    expected = getattr(k.applications, MODULES[name]).preprocess_input(x.copy())  # caffe mode edits in place
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    if name in ("vgg16", "resnet50"):
        assert not model.get_layer("caffe_preprocess").trainable


def test_saves_to_keras_and_reloads_in_safe_mode(tmp_path):
    # Every base makes the round trip in test_models.py; this one shows the caffe conv, a Resizing layer and the
    # dense head surviving it through keras' own loader.
    k = keras()
    model = small("vgg16", head="dense", base_size=48)
    resize = model.get_layer("resize")
    assert type(resize).__name__ == "Resizing" and resize.output_shape == (None, 48, 48, 3)
    assert [layer.rate for layer in model.layers if layer.name.startswith("head_dropout")] == [0.5, 0.3]
    path = tmp_path / "vgg16.keras"
    model.save(path)
    reloaded = k.models.load_model(path, safe_mode=True, compile=False)
    x = pixels()
    np.testing.assert_array_equal(reloaded(x, training=False).numpy(), model(x, training=False).numpy())
    # The nested base comes back with trainable=True but every layer in it frozen: nothing new trains.
    assert len(reloaded.trainable_weights) == len(model.trainable_weights)


@pytest.mark.parametrize("head, options, trainable, rates", [
    ("conv", {}, ["head_conv1", "head_conv2", "head_dense", "logits"], [0.3, 0.4]),
    ("dense", {"dropout": (0.2, 0.1)}, ["head_dense1", "head_dense2", "logits"], [0.2, 0.1]),
])
def test_each_head_builds(head, options, trainable, rates):
    # The linear head is the one the shared models above use.
    model = small("mobilenetv2", head=head, activation="tanh", **options)
    assert [layer.name for layer in model.layers if layer.trainable_weights] == trainable
    assert [layer.rate for layer in model.layers if layer.name.startswith("head_dropout")] == rates
    assert all(layer.get_config()["activation"] == "tanh" for layer in model.layers
               if layer.name.startswith(("head_conv", "head_dense")))
    np.testing.assert_allclose(model(pixels(), training=False).numpy().sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name, options, received", [
    ("mobilenetv2", {"head": "mlp"}, "head='mlp'"),
    ("mobilenetv2", {"activation": "gelu"}, "activation='gelu'"),
    ("mobilenetv2", {"weights": "imagenett"}, "weights='imagenett'"),
    ("mobilenetv2", {"dropout": (0.5,)}, "dropout=(0.5,)"),
    ("xception", {"base_size": 64}, "base_size=64"),
    ("vgg16", {"alpha": 0.5}, "alpha=0.5"),
])
def test_bad_options_are_one_line_that_echoes_the_value(name, options, received):
    with pytest.raises(EdgeclsError) as error:
        small(name, **options)
    message = str(error.value)
    assert received in message and "\n" not in message
    if "head" in options:
        assert "conv, dense, linear" in message


def test_missing_or_mismatching_weights_file_is_one_line(tmp_path):
    k = keras()
    missing = tmp_path / "nowhere.h5"
    other = tmp_path / "other.h5"
    k.Sequential([k.layers.Dense(2, input_shape=(3,))]).save_weights(other)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file")
    for path in (missing, other, garbage):
        with pytest.raises(EdgeclsError) as error:
            small("mobilenetv2", weights=str(path))
        assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_unfreeze_opens_the_top_keeps_batch_norm_frozen_and_checks_names():
    from edgecls.models.transfer import unfreeze

    k = keras()
    model = small("mobilenetv2")
    base = model.get_layer("base")
    layers = base.layers[1:]  # without its input layer
    is_bn = [isinstance(layer, k.layers.BatchNormalization) for layer in layers]

    def trainable_from(start: int) -> int:
        assert not any(layer.trainable for layer in layers[:start])
        assert all(layer.trainable != bn for layer, bn in zip(layers[start:], is_bn[start:]))
        return sum(not bn for bn in is_bn[start:])

    assert unfreeze(model, last_n=10) == trainable_from(len(layers) - 10)
    assert unfreeze(model, fraction=0.1) == trainable_from(len(layers) - int(np.ceil(0.1 * len(layers))))
    start = [layer.name for layer in layers].index("block_16_expand")
    assert unfreeze(model, from_layer="block_16_expand") == trainable_from(start)
    assert base.trainable
    bn_weights = {id(w) for layer, bn in zip(layers, is_bn) if bn for w in layer.weights}
    assert not bn_weights & {id(w) for w in model.trainable_weights}
    assert unfreeze(model) == trainable_from(0)

    with pytest.raises(EdgeclsError, match="Did you mean 'block_16_expand'"):
        unfreeze(model, from_layer="block16_expand")
    with pytest.raises(EdgeclsError, match="at most one"):
        unfreeze(model, last_n=3, fraction=0.5)


def test_efficientnet_from_an_imagenet_h5_scales_like_keras_imagenet(models, tmp_path):
    """keras' EfficientNetB0(weights="imagenet") divides by sqrt(stddev) once more after its Normalization layer."""
    import h5py

    k = keras()
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    path = tmp_path / "efficientnetb0_notop.h5"
    models["efficientnetb0"].get_layer("base").save_weights(path)
    with h5py.File(path, "r+") as f:  # give it the ImageNet statistics the official file holds
        norm = next(name for name in f.attrs["layer_names"].astype(str) if name.startswith("normalization"))
        group = f[norm][norm]
        group["mean:0"][...], group["variance:0"][...] = mean, std**2

    base = small("efficientnetb0", weights=str(path)).get_layer("base")
    norm = next(layer for layer in base.layers if isinstance(layer, k.layers.Normalization))
    x = pixels()
    got = k.Model(base.input, norm.output)(x).numpy()
    np.testing.assert_allclose(got, (x / 255 - mean) / std / np.sqrt(std), rtol=1e-4, atol=1e-4)


@pytest.mark.shared
def test_loads_mobilenetv2_from_a_local_h5():
    import h5py

    model = small("mobilenetv2", weights=str(MOBILENET_H5))
    with h5py.File(MOBILENET_H5, "r") as f:
        kernel = f["Conv1"]["Conv1"]["kernel:0"][()]
    base = model.get_layer("base")
    np.testing.assert_array_equal(base.get_layer("Conv1").kernel.numpy(), kernel)
    assert not base.trainable and [layer.name for layer in model.layers if layer.trainable_weights] == ["logits"]


@pytest.mark.parametrize("train_batchnorm", [False, True])
def test_a_base_trained_from_scratch_learns_its_batch_norm_statistics(tmp_path, train_batchnorm):
    """weights=none with train_batchnorm: phase 2 moves the base's BatchNorm statistics; without it they stay put."""
    from edgecls.models.checks import load_model
    from edgecls.train.config import TrainConfig
    from edgecls.train.trainer import train

    k = keras()
    data = write_colour_dataset(tmp_path / "colours", per_class=8)
    options = {"weights": "none", "head": "linear", **SMALL["mobilenetv2"], "train_batchnorm": train_batchnorm}
    config = TrainConfig(model="mobilenetv2", data=str(data), model_options=options, epochs=1, fine_tune_epochs=1,
                         fine_tune_learning_rate=1e-3, unfreeze_fraction=1.0, batch_size=8, input_size=24,
                         val_fraction=0.25)
    train(config, tmp_path / "run", command="pytest")
    base = load_model(tmp_path / "run" / "model.keras").get_layer("base")
    norms = [layer for layer in base.layers if isinstance(layer, k.layers.BatchNormalization)]
    moved = sum(bool(np.any(norm.moving_mean.numpy() != 0)) for norm in norms)  # a new one starts at moving_mean 0
    assert moved == (len(norms) if train_batchnorm else 0)
    momenta = {norm.momentum for norm in norms}
    assert momenta == ({0.99} if train_batchnorm else {0.999})  # keras' MobileNetV2 keeps 0.999
