"""Generalized-mean (GeM) pooling, as in MultiGrain / Radenović et al.

GeM(x) = (mean over H, W of clamp(x, eps)^p)^(1/p), per channel. p = 1 is average pooling, p -> inf
approaches max pooling; p is learnable (initialised at 3, MultiGrain's value), so the net chooses how
much to focus on the strongest activations, which helps retrieval on sparse drawings.
"""

from __future__ import annotations

from retrain.tfcompat import keras, tf

GEM_INIT_P = 3.0   # MultiGrain's initial p
GEM_EPS = 1e-6     # clamp: x^p with p non-integer needs x > 0 (ReLU outputs are often exactly 0)


class GeMPooling2D(keras.layers.Layer):
    """[b, H, W, C] -> [b, C] generalized-mean pooling with a learnable exponent p.

    Args:
      p: initial exponent (3 as in MultiGrain); 1 gives average pooling.
      eps: inputs are clamped to at least this before the power.
      trainable_p: learn p (True) or keep it fixed.
    """

    def __init__(self, p: float = GEM_INIT_P, eps: float = GEM_EPS, trainable_p: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.initial_p = float(p)
        self.eps = float(eps)
        self.trainable_p = bool(trainable_p)

    def build(self, input_shape):
        self.p = self.add_weight(name="p", shape=(), initializer=keras.initializers.Constant(self.initial_p),
                                 trainable=self.trainable_p)
        super().build(input_shape)

    def call(self, inputs):
        # p is kept >= 1 when used: below 1 the mean is dominated by the clamped near-zero values.
        p = tf.maximum(self.p, 1.0)
        x = tf.pow(tf.maximum(inputs, self.eps), p)
        return tf.pow(tf.reduce_mean(x, axis=[1, 2]), 1.0 / p)

    def get_config(self):
        return {**super().get_config(), "p": self.initial_p, "eps": self.eps, "trainable_p": self.trainable_p}
