"""Custom layers of the native nets, registered so a saved model loads back without custom_objects.

* `GeMPooling`: generalised-mean pooling, (mean(x^p))^(1/p) over H and W, p learnable (init 3);
  p = 1 is average pooling, p -> inf max pooling. Better than average pooling for retrieval embeddings.
* `HardSwish`: x * relu6(x + 3) / 6, MobileNetV3's cheap swish (TFLite has a fused kernel for it).
* `DrawingInput`: the exported contract's RGB in [-1, 1] (black ink on white) -> ink in [0, 1],
  one channel: the nets see what the 28x28 QuickDraw bitmaps hold (ink 1 on 0).
"""

from __future__ import annotations

from common.tfcompat import keras, tf

PACKAGE = "qdretrain_native"


@keras.utils.register_keras_serializable(package=PACKAGE)
class GeMPooling(keras.layers.Layer):
    """Generalised-mean pooling over the spatial axes: [b, h, w, c] -> [b, c].

    Args:
      p: initial exponent (3 is the usual choice for image retrieval).
      trainable_p: learn p with the rest of the network.
      epsilon: floor on activations before the power (x^p is undefined for x < 0 and its gradient
        blows up at 0).
    """

    def __init__(self, p: float = 3.0, trainable_p: bool = True, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.initial_p = float(p)
        self.trainable_p = bool(trainable_p)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        self.p = self.add_weight(name="p", shape=(), initializer=keras.initializers.Constant(self.initial_p),
                                 trainable=self.trainable_p, dtype="float32")
        super().build(input_shape)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        p = self.p
        x = tf.pow(tf.maximum(x, self.epsilon), p)
        pooled = tf.pow(tf.reduce_mean(x, axis=[1, 2]), 1.0 / p)
        return tf.cast(pooled, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "p": self.initial_p, "trainable_p": self.trainable_p,
                "epsilon": self.epsilon}


@keras.utils.register_keras_serializable(package=PACKAGE)
class HardSwish(keras.layers.Layer):
    """x * relu6(x + 3) / 6."""

    def call(self, inputs):
        return inputs * tf.nn.relu6(inputs + 3.0) * (1.0 / 6.0)


@keras.utils.register_keras_serializable(package=PACKAGE)
class DrawingInput(keras.layers.Layer):
    """RGB [-1, 1], black ink on white -> [b, h, w, channels] ink in [0, 1] (1 = ink).

    Args:
      channels: 1 for the gray nets (the channel mean), 3 to keep colour.
    """

    def __init__(self, channels: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def call(self, inputs):
        x = tf.cast(inputs, tf.float32)
        if self.channels == 1:
            x = tf.reduce_mean(x, axis=-1, keepdims=True)
        # -1 (black ink) -> 1, +1 (white paper) -> 0.
        return (1.0 - x) * 0.5

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}
