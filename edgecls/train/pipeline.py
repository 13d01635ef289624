"""tf.data input pipelines over decoded uint8 arrays: shuffle, batch, augment with Keras layers, prefetch.

Resizing and scaling are not done here: they are layers of the model, so the exported model owns them.
Augmentation layers run only in this training pipeline and never enter the saved model.
"""

from __future__ import annotations

import functools

import numpy as np

from edgecls._tf import keras, tf
from edgecls.errors import EdgeclsError
from edgecls.models.precision import compute_policy
from edgecls.registry import unknown_name
from edgecls.train.config import FLIPS


CUTOUT_SIDE = 12  # pixels; airbench96 erases 12x12 of CIFAR-10's 32x32, the DAWNBench ResNet-9 8x8
CROP_FRACTION = 0.125  # the crop's largest shift as a share of the side: 4 pixels of CIFAR-10's 32


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


def _crop(seed: int, fraction=(CROP_FRACTION, CROP_FRACTION)):
    """Shift by up to ``fraction`` of the height and width (1/8 by default) with reflected borders: the
    pad-and-random-crop of the CIFAR literature. Whole pixels only: RandomTranslation draws fractional shifts, and
    its default bilinear sampling then blurs nearly every training image by a sub-pixel amount the sharp test images
    never have; nearest sampling of a uniform shift is a shift by whole pixels (airnet-w, 10 epochs: 0.8618
    bilinear, 0.8687 whole pixels)."""
    return keras().layers.RandomTranslation(fraction[0], fraction[1], fill_mode="reflect", interpolation="nearest",
                                            seed=seed + 1, name="crop")


def augmenter(preset: str, seed: int, crop=(CROP_FRACTION, CROP_FRACTION), random_flip: bool = True):
    """The augmentation preset as a Keras model of random layers, or None for ``none``. ``crop``: the crop's largest
    shift as a share of the height and the width; ``random_flip=False`` leaves the flip out (alternating flips are
    made by ``make_dataset``, which knows the epoch)."""
    k = keras()
    layers = []
    if preset != "none" and random_flip:
        layers.append(k.layers.RandomFlip("horizontal", seed=seed, name="flip"))
    if preset in ("flip-crop", "flip-crop-cutout"):
        layers.append(_crop(seed, crop))
    if preset == "flip-rotate-zoom":
        # What the seeds' ImageDataGenerator did: rotation 15 degrees, shifts and zoom of 10%.
        layers += [k.layers.RandomRotation(15 / 360, fill_mode="nearest", seed=seed + 2, name="rotate"),
                   k.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 3, name="shift"),
                   k.layers.RandomZoom(0.1, fill_mode="nearest", seed=seed + 4, name="zoom")]
    if preset == "flip-crop-scale":
        # flip-crop, then a random zoom from 15% in to 50% out (reflected borders): CIFAR-10's objects fill the
        # frame, a photo's often do not; seen only large, a small dog on a wide lawn reads as a bird or a plane.
        layers += [_crop(seed, crop),
                   k.layers.RandomZoom((-0.15, 0.5), fill_mode="reflect", seed=seed + 5, name="scale")]
    if preset == "flip-crop-cutout":
        layers.append(_cutout_layer()(CUTOUT_SIDE, seed=seed + 6, name="cutout"))
    return k.Sequential(layers, name=f"augment_{preset}") if layers else None


def make_dataset(pixels: np.ndarray, labels: np.ndarray, num_classes: int, batch_size: int,
                 training: bool = False, augment: str = "none", seed: int = 0, drop_remainder: bool = False,
                 crop_pixels: int | None = None, flips: str = "random"):
    """Batches of (float32 0..255 pixels, one-hot labels); shuffled and augmented when ``training``.

    What is shuffled is the images' indices, and each batch gathers its images from one copy of the array: a
    shuffle buffer of the images themselves would hold a second copy of the whole split for as long as training
    runs. (Making the variable briefly takes two copies, so the peak is not lower, only what stays.)

    ``drop_remainder`` is for several replicas: a last batch too small to give every replica an example
    leaves one with an empty batch, which batch normalization cannot take. Call it outside a distribution
    strategy's scope (as the trainer does): inside one, the images' variable would be mirrored onto every device.

    ``crop_pixels`` sets the crop's largest shift in pixels (default: 1/8 of the side). ``flips="alternate"`` is
    airbench's alternating flip: each image gets a fixed random side in even epochs and the other side in odd ones,
    so every pair of epochs sees both sides of every image once; the training dataset then repeats by itself
    (it counts its batches to know the epoch, from 0 again in a resumed run)."""
    t = tf()
    if flips not in FLIPS:
        raise EdgeclsError(unknown_name("flip mode", flips, list(FLIPS)))
    alternate = training and augment != "none" and flips == "alternate"
    crop = (CROP_FRACTION, CROP_FRACTION)
    if crop_pixels is not None:
        crop = (crop_pixels / pixels.shape[1], crop_pixels / pixels.shape[2])
    with t.device("/cpu:0"):  # a variable, so the map function reads it by reference instead of copying it
        images = t.Variable(pixels, trainable=False)
    targets = t.one_hot(labels.astype(np.int32), num_classes)
    ds = t.data.Dataset.range(len(labels))
    if training:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    with compute_policy("float32"):  # augment exact pixels even when the model computes in bfloat16
        aug = augmenter(augment, seed, crop, random_flip=not alternate) if training else None
    sides = t.constant(np.random.default_rng(seed).random(len(labels)) < 0.5) if alternate else None

    def prepare(index, epoch=None):
        x = t.cast(t.gather(images, index), t.float32)
        if epoch is not None:
            flip = t.not_equal(t.gather(sides, index), t.cast(epoch % 2, t.bool))
            x = t.where(t.reshape(flip, [-1, 1, 1, 1]), t.reverse(x, axis=[2]), x)
        if aug is not None:
            x = aug(x, training=True)
        return x, t.gather(targets, index)

    per_epoch = len(labels) // batch_size if drop_remainder else -(-len(labels) // batch_size)

    def by_epoch(step, index):
        return prepare(index, step // per_epoch)

    if alternate:
        ds = ds.repeat().enumerate()   # (batch number, indices)
    return ds.map(by_epoch if alternate else prepare, num_parallel_calls=t.data.AUTOTUNE).prefetch(t.data.AUTOTUNE)
