"""The one place TensorFlow and Keras are imported from.

tensorflow_hub's KerasLayer only works with tf_keras (Keras 2); under Keras 3 it fails inside
Sequential/functional models, `model.fit` fails under MultiWorkerMirroredStrategy
(keras-team/keras#20585), and TFLite conversion of a tf.Module holding a Keras 3 model silently gives
wrong outputs. So every module imports `tf` and `keras` from here, and TF_USE_LEGACY_KERAS is set before
TensorFlow is first imported.

Importing TensorFlow takes seconds, so CLI code imports this lazily, inside the commands that need it.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ INFO/WARNING chatter (CUDA probing on CPU-only machines, oneDNN notes) hides the
# messages users need; errors still show. Users can override by setting the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["tf", "keras"]


class quiet_tf_warnings:
    """Context manager: TensorFlow's Python WARNINGs off while it is active (errors still show).

    For warnings that say nothing about the user's model, e.g. tf_keras' "Compiled the loaded model,
    but the compiled metrics have yet to be built" when saving or reloading a model that nests the
    compiled head.
    """

    def __enter__(self):
        self._logger = tf.get_logger()
        self._level = self._logger.level
        self._logger.setLevel("ERROR")
        return self

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)
        return False
