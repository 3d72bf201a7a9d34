"""Drawing augmentation on the fly, in TensorFlow ops (runs inside tf.data, on any batch size).

Rotation, shift and zoom are one random affine transform per drawing (ImageProjectiveTransformV3,
bilinear); flips mirror left-right; stroke thickness changes by one pixel through grayscale
morphology: dilation = max_pool(x), erosion = -max_pool(-x) (3x3, stride 1), each with a probability.
Works on ink images (ink high, paper 0) in float32 [b, h, w, 1].
"""

from __future__ import annotations

import dataclasses
import math

from common.tfcompat import tf
from retrain.data.bitmap_ink import ink_to_contract  # noqa: F401 (training and evaluation share it)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Attributes: max rotation (degrees), max shift (fraction of the side), max zoom (fraction),
    flip left-right, probability of thicker and of thinner strokes."""
    rotation_degrees: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    flip_left_right: bool = True
    thicken: float = 0.15
    thin: float = 0.15


def dilate(x):
    return tf.nn.max_pool2d(x, 3, 1, "SAME")


def erode(x):
    return -tf.nn.max_pool2d(-x, 3, 1, "SAME")


def augment(images, config: AugmentConfig):
    """Random transforms of a batch of ink images float32 [b, h, w, 1] (values kept in range).

    The draws come from TensorFlow's global generator, which the run story seeds with --seed
    (keras.utils.set_random_seed): the same command gives the same transforms."""
    batch = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1], tf.float32)
    angle = tf.random.uniform([batch], -1, 1) * (config.rotation_degrees * math.pi / 180)
    scale = 1.0 + tf.random.uniform([batch], -1, 1) * config.zoom
    dx = tf.random.uniform([batch], -1, 1) * config.shift * size
    dy = tf.random.uniform([batch], -1, 1) * config.shift * size
    centre = (size - 1) / 2
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2): rotate/zoom about the centre.
    a2 = centre - cos * centre + sin * centre - dx
    b2 = centre - sin * centre - cos * centre - dy
    transforms = tf.stack([cos, -sin, a2, sin, cos, b2, tf.zeros([batch]), tf.zeros([batch])], axis=1)
    x = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
    if config.flip_left_right:
        flip = tf.random.uniform([batch, 1, 1, 1]) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[2]), x)
    r = tf.random.uniform([batch, 1, 1, 1])
    x = tf.where(r < config.thicken, dilate(x), x)
    x = tf.where((r >= config.thicken) & (r < config.thicken + config.thin), erode(x), x)
    return tf.clip_by_value(x, 0.0, 1.0)


