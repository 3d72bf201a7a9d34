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


def verbose() -> bool:
    """QDRETRAIN_VERBOSE=1 (`qdretrain --verbose`): TensorFlow's own C++ lines are shown as they come."""
    return os.environ.get("QDRETRAIN_VERBOSE", "") not in ("", "0")


class captured_stderr:
    """Context manager: file descriptor 2 goes to a temporary file while it is active.

    TensorFlow and the TFLite converter write from C++ straight to fd 2 (absl's "All log messages
    before absl::InitializeLog()", oneDNN notes, CUDA probing, "failed call to cuInit", the converter's
    "fully_quantize: ..." lines), ignoring TF_CPP_MIN_LOG_LEVEL and Python's logging; they bury
    qdretrain's own one-line messages. What was captured is replayed when the body raises, and nothing
    is captured with QDRETRAIN_VERBOSE=1.
    """

    def __enter__(self):
        self._saved = None
        if verbose():
            return self
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, exc_type, exc, traceback):
        if self._saved is None:
            return False
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        if exc_type is not None and not issubclass(exc_type, KeyboardInterrupt):
            self._file.seek(0)
            sys.stderr.write(self._file.read().decode("utf-8", "replace"))
        self._file.close()
        return False


def _import_quietly():
    """Imports TensorFlow and tf_keras with their start-up lines captured (see captured_stderr)."""
    with captured_stderr():
        import tensorflow
        import tf_keras
        tensorflow.config.list_physical_devices()  # the device probe (cuInit) happens here, quietly
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
