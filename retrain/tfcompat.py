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

import sys  # noqa: E402
import tempfile  # noqa: E402


def _import_quietly():
    """Imports TensorFlow and tf_keras with file descriptor 2 sent to a temporary file.

    TF 2.21 writes its start-up lines (absl's "All log messages before absl::InitializeLog()", oneDNN
    notes, CUDA probing, "failed call to cuInit") from C++ straight to fd 2, ignoring
    TF_CPP_MIN_LOG_LEVEL, before any Python code can filter them; they bury qdretrain's own one-line
    messages. They are replayed when the import fails, and shown as they come with
    QDRETRAIN_VERBOSE=1 (`qdretrain --verbose`).
    """
    if os.environ.get("QDRETRAIN_VERBOSE", "") not in ("", "0"):
        import tensorflow
        import tf_keras
        return tensorflow, tf_keras
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
            import tf_keras
            tensorflow.config.list_physical_devices()  # the device probe (cuInit) happens here, quietly
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tensorflow, tf_keras


tf, keras = _import_quietly()

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
