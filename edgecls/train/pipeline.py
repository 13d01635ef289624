"""tf.data input pipelines over decoded uint8 arrays: shuffle, batch, augment with Keras layers, prefetch.

Resizing and scaling are not done here: they are layers of the model, so the exported model owns them.
Augmentation layers run only in this training pipeline and never enter the saved model.
"""

from __future__ import annotations

import functools

import numpy as np

from edgecls._tf import keras, tf
from edgecls.models.precision import compute_policy


CUTOUT_SIDE = 12  # pixels; airbench96 erases 12x12 of CIFAR-10's 32x32, the DAWNBench ResNet-9 8x8


@functools.cache
def _cutout_layer():
    k = keras()

    class Cutout(k.layers.Layer):
        """Cutout (DeVries & Taylor, 2017): one square per image, centred anywhere (so it may be cut by the border),
        filled with the image's mean colour. Training only; it never enters a saved model."""

        def __init__(self, side: int, seed: int | None = None, **kwargs):
            super().__init__(**kwargs)
            self.side, self.seed = side, seed

        def call(self, inputs, training=None):
            if not training:
                return inputs
            t = tf()
            shape = t.shape(inputs)
            n, h, w = shape[0], shape[1], shape[2]
            cy = t.random.uniform([n, 1, 1, 1], 0, h, dtype=t.int32, seed=self.seed)
            cx = t.random.uniform([n, 1, 1, 1], 0, w, dtype=t.int32,
                                  seed=None if self.seed is None else self.seed + 1)
            rows = t.reshape(t.range(h), [1, -1, 1, 1])
            cols = t.reshape(t.range(w), [1, 1, -1, 1])
            top, left = cy - self.side // 2, cx - self.side // 2
            inside = (rows >= top) & (rows < top + self.side) & (cols >= left) & (cols < left + self.side)
            mean = t.reduce_mean(inputs, axis=[1, 2], keepdims=True)
            return t.where(inside, mean, inputs)

    return Cutout


def _crop(seed: int):
    """Shift by up to 1/8 of the side with reflected borders: the pad-and-random-crop of the CIFAR literature.
    Whole pixels only: RandomTranslation draws fractional shifts, and its default bilinear sampling then blurs
    nearly every training image by a sub-pixel amount the sharp test images never have; nearest sampling of a
    uniform shift is a shift by whole pixels (airnet-w, 10 epochs: 0.8618 bilinear, 0.8687 whole pixels)."""
    return keras().layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", interpolation="nearest",
                                            seed=seed + 1, name="crop")


def augmenter(preset: str, seed: int):
    """The augmentation preset as a Keras model of random layers, or None for ``none``."""
    k = keras()
    layers = []
    if preset != "none":
        layers.append(k.layers.RandomFlip("horizontal", seed=seed, name="flip"))
    if preset in ("flip-crop", "flip-crop-cutout"):
        layers.append(_crop(seed))
    if preset == "flip-rotate-zoom":
        # What the seeds' ImageDataGenerator did: rotation 15 degrees, shifts and zoom of 10%.
        layers += [k.layers.RandomRotation(15 / 360, fill_mode="nearest", seed=seed + 2, name="rotate"),
                   k.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 3, name="shift"),
                   k.layers.RandomZoom(0.1, fill_mode="nearest", seed=seed + 4, name="zoom")]
    if preset == "flip-crop-scale":
        # flip-crop, then a random zoom from 15% in to 50% out (reflected borders): CIFAR-10's objects fill the
        # frame, a photo's often do not; seen only large, a small dog on a wide lawn reads as a bird or a plane.
        layers += [_crop(seed),
                   k.layers.RandomZoom((-0.15, 0.5), fill_mode="reflect", seed=seed + 5, name="scale")]
    if preset == "flip-crop-cutout":
        layers.append(_cutout_layer()(CUTOUT_SIDE, seed=seed + 6, name="cutout"))
    return k.Sequential(layers, name=f"augment_{preset}") if layers else None


def make_dataset(pixels: np.ndarray, labels: np.ndarray, num_classes: int, batch_size: int,
                 training: bool = False, augment: str = "none", seed: int = 0, drop_remainder: bool = False):
    """Batches of (float32 0..255 pixels, one-hot labels); shuffled and augmented when ``training``.

    What is shuffled is the images' indices, and each batch gathers its images from one copy of the array: a
    shuffle buffer of the images themselves would hold a second copy of the whole split for as long as training
    runs. (Making the variable briefly takes two copies, so the peak is not lower, only what stays.)

    ``drop_remainder`` is for several replicas: a last batch too small to give every replica an example
    leaves one with an empty batch, which batch normalization cannot take. Call it outside a distribution
    strategy's scope (as the trainer does): inside one, the images' variable would be mirrored onto every device."""
    t = tf()
    with t.device("/cpu:0"):  # a variable, so the map function reads it by reference instead of copying it
        images = t.Variable(pixels, trainable=False)
    targets = t.one_hot(labels.astype(np.int32), num_classes)
    ds = t.data.Dataset.range(len(labels))
    if training:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    with compute_policy("float32"):  # augment exact pixels even when the model computes in bfloat16
        aug = augmenter(augment, seed) if training else None

    def prepare(index):
        x = t.cast(t.gather(images, index), t.float32)
        if aug is not None:
            x = aug(x, training=True)
        return x, t.gather(targets, index)

    return ds.map(prepare, num_parallel_calls=t.data.AUTOTUNE).prefetch(t.data.AUTOTUNE)
