"""The embedding as its own TFLite model, for on-device similar-drawing search.

`embedding.tflite`: input `input` float32 [1, H, W, 3] in [-1, 1] (the classifier's contract, so an
app feeds both models the same buffer) -> output `embedding` float32 [1, D], the vector
`qdretrain similar` / `audit` search with (compare by cosine: L2-normalise on the device). It is
verified like the other artifacts: run with LiteRT on held-back images and compared with the trained
model's embedding (retrain/embeddings/extract.py); the result goes to embedding_export.json.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np

from common.errors import ExportVerificationError

EMBEDDING_TFLITE = "embedding.tflite"
REPORT_FILE = "embedding_export.json"
MIN_COSINE = 0.9999      # float32 conversion: the same vector up to rounding
VERIFY_IMAGES = 32       # held-back images the check runs on


@dataclasses.dataclass(frozen=True)
class EmbeddingCheck:
    path: str
    images: int
    feature_size: int
    max_abs_diff: float
    min_cosine: float
    passed: bool


def embedding_keras_model(extractor):
    """A tf_keras model: `input` [b, H, W, 3] in [-1, 1] -> the extractor's embedding [b, D]."""
    from retrain.embeddings.extract import BottleneckExtractor
    from common.tfcompat import keras, tf
    if not isinstance(extractor, BottleneckExtractor):
        return extractor.embedding_model  # the generic Keras path: already input -> "embedding"
    from retrain.families.architectures import INPUT_MEAN, INPUT_STD
    from retrain.families.hub_head.hub_modules import load_feature_layer
    size = extractor.input_size
    image = keras.Input(shape=(size, size, 3), name="input", dtype=tf.float32)
    unit = keras.layers.Rescaling(INPUT_STD / 255.0, offset=INPUT_MEAN / 255.0, name="to_unit_range")(image)
    features = load_feature_layer(extractor.module)(unit)
    return keras.Model(image, keras.layers.Identity(name="embedding")(features), name="embedding_model")


def convert_embedding(model) -> bytes:
    """float32 .tflite bytes, batch 1, output named `embedding`."""
    from common.tfcompat import tf
    height, width, channels = (int(d) for d in model.input_shape[1:])

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, channels], tf.float32, name="input")])
    def serve(input):  # noqa: A002  (the argument's name becomes the input tensor's name)
        return {"embedding": model(input, training=False)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
    return converter.convert()


def verify_embedding(path: str, extractor, images: np.ndarray) -> EmbeddingCheck:
    """Runs the .tflite with LiteRT on `images` and compares with the trained model's embeddings."""
    from android_export.runners import TFLiteRunner
    from retrain.embeddings.search import normalize
    got = TFLiteRunner(path).predict(images)
    want = extractor.embed_images(images)
    cosine = np.einsum("nd,nd->n", normalize(got), normalize(want))
    max_diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    min_cos = float(cosine.min()) if len(cosine) else 1.0
    return EmbeddingCheck(path=path, images=len(images), feature_size=int(want.shape[1]),
                          max_abs_diff=max_diff, min_cosine=min_cos,
                          passed=got.shape == want.shape and min_cos >= MIN_COSINE)


def export_embedding(model_dir: str, output_dir: Optional[str] = None, images: Optional[np.ndarray] = None,
                     echo=print) -> EmbeddingCheck:
    """Writes and verifies <output_dir>/embedding.tflite for the model in `model_dir`.

    Args:
      model_dir: a `qdretrain train` output folder.
      output_dir: where it goes [model_dir].
      images: verification images [n, H, W, 3] in [-1, 1]; default: the first test-split images.

    Raises:
      ExportVerificationError: the TFLite embedding disagrees with the trained model (the file is
        renamed *.failed).
    """
    from retrain.model_folder import contract as outputs
    from retrain.embeddings import extract
    out = output_dir or model_dir
    config = extract.load_run_config(model_dir)
    extractor = extract.extractor_for(model_dir, config)
    if images is None:
        images = _test_images(config, extractor.input_size)
    path = os.path.join(out, EMBEDDING_TFLITE)
    outputs.atomic_write_bytes(path, convert_embedding(embedding_keras_model(extractor)))
    check = verify_embedding(path, extractor, images)
    outputs.write_json(check, os.path.join(out, REPORT_FILE))
    echo(f"embedding.tflite: {check.feature_size}-D, min cosine {check.min_cosine:.6f}, max |diff| "
         f"{check.max_abs_diff:.2e} vs the trained model on {check.images} images")
    if not check.passed:
        os.replace(path, path + ".failed")
        raise ExportVerificationError(
            f"The TFLite embedding disagrees with the trained model (min cosine {check.min_cosine:.6f} < "
            f"{MIN_COSINE}); it was renamed {path}.failed. Report this with the model folder.")
    return check


def _test_images(config, size: int) -> np.ndarray:
    from retrain.data.images import load_record_images
    from retrain.data.loading import load_index
    from retrain.data.split import split_records
    splits = split_records(load_index(config).records, config.testing_percentage,
                           config.validation_percentage)
    records = (splits["testing"] or splits["training"])[:VERIFY_IMAGES]
    return np.stack(load_record_images(records, size))
