"""The `DrawingRescale` layer: brings any input down to the drawings' own scale inside the model.

See retrain/model_folder/input_preprocessing.py for why and when. Registered with Keras, so a saved model holding
it loads back without custom_objects (import this module first, as retrain/model_folder/saved_model.py does).
"""

from __future__ import annotations

import math

from common.tfcompat import keras, tf


@keras.utils.register_keras_serializable(package="qdretrain")
class DrawingRescale(keras.layers.Layer):
    """[b, S, S, 3] in [-1, 1] (ink -1 on paper +1) -> the same shape and range, with `side`-px detail.

    Args:
      side: the scale the drawing is brought down to (area average, then bilinear back up).
      stretch_ink: map each image's darkest pixel to -1 (ink) and its lightest to +1 (paper), linear in
        between, so a thin stroke that averaged to pale gray is as dark as the training drawings' ink
        and gray paper (a photo of a page, a tinted canvas) is white.
    """

    # The stretch divides by the contrast (lightest - darkest): a blank or nearly blank image must not
    # have its faint noise blown up into strokes, so the divisor is floored.
    MIN_DEPTH = 0.5

    def __init__(self, side: int = 28, stretch_ink: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.side = int(side)
        self.stretch_ink = bool(stretch_ink)

    def call(self, images):
        size = int(images.shape[1])
        factor = max(1, math.ceil(size / self.side))
        gray = tf.reduce_mean(images, axis=-1, keepdims=True)
        if size != self.side * factor:  # e.g. 299 (Inception): first to a multiple of the side
            gray = tf.image.resize(gray, [self.side * factor] * 2, method="bilinear")
        # An exact area average: an 8x nearest-neighbour upscale of a 28-px bitmap comes back exactly.
        small = tf.nn.avg_pool2d(gray, factor, factor, "VALID") if factor > 1 else gray
        if self.stretch_ink:
            darkest = tf.reduce_min(small, axis=[1, 2, 3], keepdims=True)
            lightest = tf.reduce_max(small, axis=[1, 2, 3], keepdims=True)
            depth = tf.maximum(lightest - darkest, self.MIN_DEPTH)
            # 2 / depth, without a DIV: the int8 export quantizes a DIV to an int8 DIV that the
            # converter still labels version 1, and runtimes whose DIV kernel predates int8 (MediaPipe
            # Tasks 0.10.21, the TFLite Task Library 0.4.4) load the model and then fail in Invoke()
            # (issue 18). RSQRT and MUL have had int8 kernels in every runtime we ship to.
            root = tf.math.rsqrt(depth * 0.5)
            small = tf.clip_by_value(1.0 - (lightest - small) * (root * root), -1.0, 1.0)
        big = tf.image.resize(small, [size, size], method="bilinear")
        return tf.concat([big, big, big], axis=-1)

    def get_config(self):
        return {**super().get_config(), "side": self.side, "stretch_ink": self.stretch_ink}
