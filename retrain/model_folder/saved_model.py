"""The SavedModel: the trained tf_keras classifier with a `serving_default` signature.

The signature takes `input` (float32 [b, H, W, 3] in [-1, 1]) and returns {"final_result": softmax}.
It stays loadable both ways: `tf.saved_model.load(dir).signatures["serving_default"]` (TF Serving,
TFLite and ONNX converters) and `tf_keras.models.load_model(dir, custom_objects={"KerasLayer": ...})`
(further training, and the reference the exports are checked against).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from retrain.model_folder.frozen_graph import serving_function

SERVING_SIGNATURE = "serving_default"


def save_serving_model(model, export_dir: str) -> None:
    """Saves `model` as a SavedModel at `export_dir`, replacing any old one only once the new one is whole.

    Args:
      model: the tf_keras classifier from `retrain.families.hub_head.model.build_classifier`.
      export_dir: destination folder.
    """
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-saved_model-")
    old = None
    try:
        staged = os.path.join(tmp, "saved_model")
        from common.tfcompat import quiet_tf_warnings
        with quiet_tf_warnings():
            model.save(staged, save_format="tf", include_optimizer=False,
                       signatures={SERVING_SIGNATURE: serving_function(model)})
        if os.path.exists(export_dir):
            # os.replace cannot replace a non-empty folder: move the old one aside first.
            old = os.path.join(tmp, "old")
            os.replace(export_dir, old)
        os.replace(staged, export_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_keras_model(export_dir: str):
    """Loads the SavedModel back as a tf_keras model (the trained model, as the reference).

    Raises:
      ConfigError: the folder's Keras config names anything qdretrain does not write (a Lambda, a
        function reference, an unknown class), checked before anything is deserialised (safety.py).
      OSError / ValueError from tf_keras when the folder is not a tf_keras SavedModel.
    """
    from common.tfcompat import keras, quiet_tf_warnings  # first: TensorFlow's start-up lines captured
    import tensorflow_hub as hub

    from retrain.model_folder.safety import check_no_python_code
    check_no_python_code(export_dir)  # before anything is deserialised
    import retrain.model_folder.drawing_rescale  # noqa: F401 (registers the input preprocessing layer for loading)
    import retrain.model_folder.native_layers  # noqa: F401 (registers the native nets' layers for loading)
    # The nested head was compiled for training; tf_keras warns that its metrics are not built yet.
    with quiet_tf_warnings():
        return keras.models.load_model(export_dir, custom_objects={"KerasLayer": hub.KerasLayer},
                                       compile=False)


def load_serving_signature(export_dir: str):
    """The `serving_default` concrete function of a SavedModel, loaded with plain TensorFlow.

    Raises:
      ValueError: the SavedModel has no serving_default signature.
    """
    from common.tfcompat import tf
    loaded = tf.saved_model.load(export_dir)
    if SERVING_SIGNATURE not in loaded.signatures:
        raise ValueError(f"{export_dir} has no '{SERVING_SIGNATURE}' signature (it has "
                         f"{sorted(loaded.signatures) or 'none'}). Re-export it with qdretrain.")
    signature = loaded.signatures[SERVING_SIGNATURE]
    signature._qdretrain_owner = loaded  # keep the loaded object (and its variables) alive
    return signature


class SignaturePredictor:
    """(float32 [n, H, W, 3] in [-1, 1]) -> probabilities [n, classes], through a SavedModel's
    `serving_default` signature, batch by batch (memory stays flat).

    Graph ops only: nothing in the folder's Keras config is deserialised and no Python it names runs,
    so what only needs predictions (`predict`, a distillation teacher, export's SavedModel check) takes
    this path rather than `load_keras_model`.

    Attributes:
      input_shape: the signature's input shape ([None, H, W, 3]).

    Raises (on construction):
      ValueError: the SavedModel has no serving_default signature.
    """

    def __init__(self, export_dir: str, batch_size: int = 256):
        self.signature = load_serving_signature(export_dir)
        (_, inputs) = self.signature.structured_input_signature
        self.input_name = next(iter(inputs))
        self.input_shape = tuple(inputs[self.input_name].shape)
        self.output_name = next(iter(self.signature.structured_outputs))
        self.batch_size = batch_size

    def __call__(self, images):
        import numpy as np

        from common.tfcompat import tf
        images = np.asarray(images, np.float32)
        parts = [self.signature(**{self.input_name: tf.constant(images[start:start + self.batch_size])})
                 [self.output_name].numpy() for start in range(0, len(images), self.batch_size)]
        classes = self.signature.structured_outputs[self.output_name].shape[-1]
        return np.concatenate(parts) if parts else np.zeros([0, classes], np.float32)


def load_predictor(export_dir: str, batch_size: int = 256) -> SignaturePredictor:
    """The SavedModel's serving signature as a batched predictor (SignaturePredictor)."""
    return SignaturePredictor(export_dir, batch_size)


def load_keras_file(path: str):
    """Loads a `.keras` file (a full Keras model) after the same allow-list check as `load_keras_model`.

    `safe_mode` alone refuses Lambda bytecode but not a reference to an importable function (e.g.
    `pydoc.pipepager`, which runs a shell command), so the config is checked first.

    Raises:
      ConfigError: the file's config names anything qdretrain does not write, or it is not a .keras file.
    """
    from common.tfcompat import keras, quiet_tf_warnings

    from retrain.model_folder.safety import check_no_python_code
    check_no_python_code(path)  # before anything is deserialised
    import retrain.model_folder.drawing_rescale  # noqa: F401 (registers the input preprocessing layer for loading)
    import retrain.model_folder.native_layers  # noqa: F401 (registers the native nets' layers for loading)
    with quiet_tf_warnings():
        return keras.models.load_model(path, compile=False, safe_mode=True)
