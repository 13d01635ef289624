"""Data-dependent initial weights: a frozen patch-whitening first conv, and identity ("dirac") conv kernels.

The whitening conv is airbench's: its filters are the eigenvectors of the covariance of the training images'
k x k patches, each divided by the square root of its eigenvalue, so the layer's outputs are decorrelated and of
unit variance; every filter comes twice, as w and -w, so a ReLU after it keeps both signs. Here the patches are
centred first and the layer's bias subtracts the mean, so the images need no normalization of their own.
"""

from __future__ import annotations

import numpy as np

WHITEN_LAYER = "whiten"   # the whitening conv's layer name, which fit_whitening and the trainer look up
EPS_RATIO = 5e-4   # added to the eigenvalues, relative to the mean patch variance (airbench's 5e-4 on unit data)


def patches(images: np.ndarray, size: int) -> np.ndarray:
    """All ``size`` x ``size`` patches of N x H x W x C images, flattened in Keras kernel order (row, column,
    channel): shape (N * (H - size + 1) * (W - size + 1), size * size * C)."""
    view = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))  # N, H', W', C, kh, kw
    view = view.transpose(0, 1, 2, 4, 5, 3)
    return view.reshape(-1, size * size * images.shape[-1])


def whitening_weights(images: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) for a ``size`` x ``size`` valid conv with 2 * size * size * C outputs that whitens the patches
    of ``images`` (the conv's input): filters in order of falling variance, then the same filters negated."""
    flat = patches(np.asarray(images, dtype=np.float64), size)
    mean = flat.mean(axis=0)
    centred = flat - mean
    covariance = centred.T @ centred / len(centred)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)   # ascending
    eps = EPS_RATIO * float(np.trace(covariance)) / len(covariance)
    filters = eigenvectors[:, ::-1] / np.sqrt(eigenvalues[::-1] + eps)    # columns, strongest first
    filters = np.concatenate([filters, -filters], axis=1)
    kernel = filters.reshape(size, size, images.shape[-1], -1)
    return kernel.astype(np.float32), (-mean @ filters).astype(np.float32)


def fit_whitening(model, images: np.ndarray, layer: str = WHITEN_LAYER) -> None:
    """Set the conv ``layer`` of ``model`` to whiten what it receives when ``images`` (0..255 pixels) go in."""
    from edgecls._tf import keras

    conv = model.get_layer(layer)
    feed = keras().Model(model.inputs, conv.input)
    seen = np.asarray(feed.predict(images, batch_size=256, verbose=0), dtype=np.float64)
    kernel, bias = whitening_weights(seen, conv.kernel_size[0])
    conv.set_weights([kernel, bias])


def dirac(kernel: np.ndarray) -> np.ndarray:
    """A conv kernel (kh, kw, in, out) whose first ``in`` outputs copy the input channels (the rest unchanged), as
    airbench starts its convs: each block begins close to an identity, an implicit residual."""
    kernel = np.array(kernel)
    kh, kw, channels_in, channels_out = kernel.shape
    n = min(channels_in, channels_out)
    kernel[:, :, :, :n] = 0.0
    kernel[kh // 2, kw // 2, np.arange(n), np.arange(n)] = 1.0
    return kernel
