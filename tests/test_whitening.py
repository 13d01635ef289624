"""airbench's pieces: the patch-whitening stem, identity-initialized convs, and Lookahead weight averaging."""

from __future__ import annotations

import numpy as np
import pytest

from edgecls.models.whitening import dirac, patches, whitening_weights

pytestmark = pytest.mark.tf


def keras():
    from edgecls._tf import keras

    return keras()


def correlated_images(n: int = 200, seed: int = 0) -> np.ndarray:
    """Smooth, colour-correlated images: neighbouring pixels and channels far from independent."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, (n, 9, 9, 1))
    grey = np.repeat(np.repeat(base, 2, axis=1), 2, axis=2)[:, :16, :16]
    return (np.concatenate([grey, 0.8 * grey + 0.2 * rng.uniform(0, 1, grey.shape), 1 - grey], axis=-1)
            + rng.normal(0, 0.05, (n, 16, 16, 3))).astype(np.float32)


def test_patches_follow_the_keras_kernel_order():
    x = correlated_images(4)
    kernel = np.random.default_rng(1).normal(size=(2, 2, 3, 5)).astype(np.float32)
    conv = keras().layers.Conv2D(5, 2, padding="valid", use_bias=False)
    conv.build(x.shape)
    conv.set_weights([kernel])
    expected = conv(x).numpy().reshape(-1, 5)
    np.testing.assert_allclose(patches(x, 2) @ kernel.reshape(12, 5), expected, rtol=1e-4, atol=1e-4)


def test_the_whitening_conv_decorrelates_its_input_and_keeps_both_signs():
    x = correlated_images()
    kernel, bias = whitening_weights(x, 2)
    assert kernel.shape == (2, 2, 3, 24) and bias.shape == (24,)
    out = patches(x.astype(np.float64), 2) @ kernel.reshape(12, 24) + bias
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out[:, 12:], -out[:, :12], atol=1e-5)
    covariance = np.cov(out[:, :12].T)
    # unit variance up to the small eps added to every eigenvalue, no correlation left
    np.testing.assert_allclose(np.diag(covariance), 1.0, atol=0.05)
    np.testing.assert_allclose(covariance - np.diag(np.diag(covariance)), 0.0, atol=1e-3)
    # the filters come strongest direction first: the first filter is the smallest (largest eigenvalue)
    norms = np.linalg.norm(kernel.reshape(12, 24)[:, :12], axis=0)
    assert norms[0] == norms.min()


def test_a_dirac_kernel_passes_the_input_channels_through():
    rng = np.random.default_rng(2)
    kernel = dirac(rng.normal(size=(3, 3, 4, 6)).astype(np.float32))
    x = rng.normal(size=(2, 5, 5, 4)).astype(np.float32)
    conv = keras().layers.Conv2D(6, 3, padding="same", use_bias=False)
    conv.build(x.shape)
    conv.set_weights([kernel])
    np.testing.assert_allclose(conv(x).numpy()[..., :4], x, atol=1e-6)
    assert np.abs(kernel[..., 4:]).sum() > 0  # the outputs beyond the inputs keep their random start


def test_training_airnet_w_whitens_its_stem_from_the_training_images(colour_data, tmp_path):
    from edgecls.models.checks import load_model
    from edgecls.train.config import TrainConfig
    from edgecls.train.trainer import prepare_data, train

    config = TrainConfig(model="airnet-w", data=str(colour_data), epochs=1, batch_size=16, optimizer="sgd",
                         learning_rate=0.05, input_size=24, lookahead=True)
    train(config, tmp_path / "run")
    model = load_model(tmp_path / "run" / "model.keras")
    _, _, arrays = prepare_data(config)
    kernel, bias = whitening_weights(arrays["train"][0] / 255.0, 2)
    stem = model.get_layer("whiten")
    assert not stem.trainable
    # the eigenvectors' signs are arbitrary only up to eigh's own choice, which is deterministic for the same input
    np.testing.assert_allclose(stem.get_weights()[0], kernel, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(stem.get_weights()[1], bias, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("first_epoch", [0, 3])
def test_lookahead_moves_the_weights_into_their_running_average(first_epoch):
    """One epoch of 10 steps: the whole of training, or a second phase that runs from epoch 3 to 4 (its progress
    counts from its own start)."""
    from edgecls.train.callbacks import Lookahead

    k = keras()
    inputs = k.Input((4,))
    model = k.Model(inputs, k.layers.Dense(2)(k.layers.BatchNormalization()(inputs)))
    # every step, from a fifth of the way through
    callback = Lookahead(batch_size=5 * 1024, start=0.2, first_epoch=first_epoch)
    assert callback.every == 1
    callback.set_model(model)
    callback.set_params({"steps": 10, "epochs": first_epoch + 1})
    callback.on_train_begin()
    callback.on_epoch_begin(first_epoch)
    start = [w.numpy().copy() for w in model.weights]
    callback.on_train_batch_end(0)                      # 10% of the way: before the start, nothing happens
    assert callback.average is None
    callback.on_train_batch_end(1)                      # 20%: the average starts from the weights as they are
    for w in model.weights:
        w.assign(w + 1.0)
    callback.on_train_batch_end(2)                      # 30%: the weights move to the average
    rho = 0.95 ** 5 * 0.3 ** 3
    for before, w in zip(start, model.weights):
        np.testing.assert_allclose(w.numpy(), before + (1.0 - rho), rtol=1e-6)


def test_bias_first_trains_only_the_stems_bias_and_only_in_its_epochs():
    """Two epochs with the bias trained in the first: the bias moves in epoch 1 and stands in epoch 2, the kernel
    never moves, and the stem ends frozen."""
    from edgecls.train.callbacks import BiasFirst

    k = keras()
    k.utils.set_random_seed(0)
    inputs = k.Input((6, 6, 3))
    stem = k.layers.Conv2D(4, 2, name="whiten", trainable=False)
    model = k.Model(inputs, k.layers.Dense(2)(k.layers.GlobalAveragePooling2D()(stem(inputs))))
    model.compile(k.optimizers.SGD(0.1, momentum=0.5, weight_decay=0.01), loss="mse")
    kernel, bias = (w.numpy().copy() for w in stem.weights)
    seen = []
    record = k.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(stem.bias.numpy().copy()))
    x = np.random.default_rng(0).normal(size=(32, 6, 6, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(32, 2)).astype(np.float32)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[BiasFirst("whiten", 1), record])
    np.testing.assert_array_equal(stem.kernel.numpy(), kernel)
    assert np.abs(seen[0] - bias).max() > 1e-4
    np.testing.assert_array_equal(seen[1], seen[0])
    assert not stem.trainable


def test_whiten_bias_epochs_needs_a_whitening_stem(colour_data, tmp_path):
    from edgecls.errors import EdgeclsError
    from edgecls.train.config import TrainConfig
    from edgecls.train.trainer import train

    config = TrainConfig(model="tiny-test", data=str(colour_data), epochs=1, whiten_bias_epochs=3)
    with pytest.raises(EdgeclsError, match="tiny-test: --whiten-bias-epochs trains the bias of a whitening stem"):
        train(config, tmp_path / "run")
    with pytest.raises(EdgeclsError, match="whiten bias epochs must be 0 or more; received -1"):
        TrainConfig(model="airnet-w", data="x", whiten_bias_epochs=-1)


def test_the_trainer_adds_bias_first_only_when_asked(tmp_path):
    from edgecls.train.callbacks import BiasFirst, standard_callbacks
    from edgecls.train.config import TrainConfig

    def bias_first(**settings):
        config = TrainConfig(model="airnet-w", data="x", lookahead=True, **settings)
        callbacks = standard_callbacks(config, tmp_path, 100)
        return [(i, c.epochs) for i, c in enumerate(callbacks) if isinstance(c, BiasFirst)]

    assert bias_first(whiten_bias_epochs=3) == [(0, 3)]   # first, ahead of Lookahead
    assert bias_first() == []
