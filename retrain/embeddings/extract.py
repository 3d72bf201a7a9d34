"""The embedding extractor: a model folder + records -> float32 [N, D], one small interface.

What "the embedding" is depends on the model family:
  * TF-Hub backbones (what `qdretrain train` writes today): the bottleneck, i.e. the module's feature
    vector. It comes from the bottleneck cache (retrain/families/hub_head/bottlenecks.py), so a dataset that was
    trained on is never run through the module again, and new images are cached for next time.
  * Keras models with a layer named "embedding" (the native nets' pooled penultimate layer): handled
    generically by `keras_embedding_model` / `embed_with_keras` below, whatever the architecture.

Everything here takes explicit arguments; only retrain/cli/embeddings.py reads options.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from retrain.families.config import TrainConfig
from retrain.data.dataset import ImageRecord
from common.errors import ConfigError, DatasetError

EMBEDDING_LAYER = "embedding"   # the name a Keras model's embedding layer must have
KERAS_MODEL_FILE = "model.keras"  # where a model folder keeps a full Keras model (native nets)


@dataclasses.dataclass(frozen=True)
class Embeddings:
    """Embeddings of a list of records.

    Attributes:
      vectors: float32 [N, D], row i belongs to records[i].
      records: the records that have an embedding (ones that could not be decoded are left out).
      splits: "training" / "validation" / "testing" per record ("" when unknown).
    """

    vectors: np.ndarray
    records: tuple
    splits: tuple = ()


def load_run_config(model_dir: str, **overrides) -> TrainConfig:
    """The TrainConfig a model folder was trained with (run_config.json), with some fields replaced.

    Raises:
      ConfigError: no run_config.json (not a `qdretrain train` output folder).
    """
    from retrain.model_folder import contract as outputs
    path = os.path.join(model_dir, outputs.RUN_CONFIG_FILE)
    if not os.path.exists(path):
        raise ConfigError(f"{model_dir} has no {outputs.RUN_CONFIG_FILE}: pass the --output_dir of a "
                          f"`qdretrain train` run (or --image_dir/--quickdraw_dir with --architecture).")
    data = outputs.read_json(path)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    data = {k: v for k, v in data.items() if k in known}
    data["export_formats"] = tuple(data.get("export_formats") or ())
    data.update({k: v for k, v in overrides.items() if v is not None})
    if overrides.get("image_dir") or overrides.get("quickdraw_dir"):
        data["image_dir"], data["quickdraw_dir"] = overrides.get("image_dir"), overrides.get("quickdraw_dir")
    return TrainConfig(**data)


class BottleneckExtractor:
    """Embeddings of a TF-Hub backbone = its cached bottlenecks.

    Args:
      config: the run's TrainConfig (architecture, module, input size, bottleneck_dir, batch size).
      input_preprocessing: the model's resolved input preprocessing (model_info.json's; part of the
        cache key, retrain/model_folder/input_preprocessing.py).
    """

    def __init__(self, config: TrainConfig, input_preprocessing: str = "none"):
        from retrain.families import architectures
        from retrain.families.hub_head.bottlenecks import BottleneckCache
        from retrain.families.hub_head.family import resolve_architecture
        self.config = config
        self.spec, self.module = resolve_architecture(config)
        self.spec = architectures.with_overrides(self.spec, input_preprocessing=input_preprocessing)
        self.cache = BottleneckCache(config.bottleneck_dir, self.module, self.spec)

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    def embed_records(self, records: Sequence[ImageRecord], progress: bool = False):
        """(float32 [N, D], kept records): computed once into the cache, then read from it."""
        self.cache.compute(records, batch_size=self.config.cache_batch_size, progress=progress)
        return self.cache.load(records)

    def embed_images(self, images: np.ndarray) -> np.ndarray:
        """Model-input images float32 [b, size, size, 3] in [-1, 1] -> float32 [b, D] (not cached)."""
        fn = self.cache.feature_function()
        return np.concatenate([fn(images[i:i + 64]).numpy() for i in range(0, len(images), 64)]) \
            if len(images) else np.zeros((0, self.spec.feature_size), np.float32)


# ---------------------------------------------------------------------------------------------------
# GENERIC KERAS PATH: any tf_keras model with a layer named "embedding" (the native nets' pooled
# penultimate layer). Nothing below knows the architecture; only the layer name matters.

def keras_embedding_model(model):
    """A model from `model`'s input to its layer named "embedding" (sharing the weights).

    Raises:
      ConfigError: the model has no layer named "embedding".
    """
    from common.tfcompat import keras
    try:
        layer = model.get_layer(EMBEDDING_LAYER)
    except ValueError:
        raise ConfigError(f"The Keras model has no layer named {EMBEDDING_LAYER!r}; name the pooled "
                          f"penultimate layer {EMBEDDING_LAYER!r} to search or audit with it.") from None
    return keras.Model(model.inputs, layer.output, name="embedding_model")


class KerasExtractor:
    """Embeddings from a Keras model's "embedding" layer, images rendered/decoded per call.

    Args:
      model: a tf_keras model taking float32 [b, size, size, 3] in [-1, 1].
      input_size: its input side.
      batch_size: images per forward pass.
    """

    def __init__(self, model, input_size: int, batch_size: int = 64):
        self.embedding_model = keras_embedding_model(model)
        self.input_size = input_size
        self.batch_size = batch_size

    def embed_images(self, images: np.ndarray) -> np.ndarray:
        out = self.embedding_model.predict(np.asarray(images, np.float32), batch_size=self.batch_size,
                                           verbose=0)
        return np.asarray(out, np.float32).reshape(len(images), -1)

    def embed_records(self, records: Sequence[ImageRecord], progress: bool = False):
        from retrain.data.images import load_record_images
        records = list(records)
        vectors = [self.embed_images(np.stack(load_record_images(records[i:i + 256], self.input_size)))
                   for i in range(0, len(records), 256)]
        return (np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32)), records
# END OF THE GENERIC KERAS PATH.
# ---------------------------------------------------------------------------------------------------


def extractor_for(model_dir: Optional[str], config: TrainConfig):
    """The extractor of a model folder: its Keras model's "embedding" layer if it keeps a full Keras
    model (model.keras), else its TF-Hub backbone's bottleneck."""
    if model_dir and os.path.exists(os.path.join(model_dir, KERAS_MODEL_FILE)):
        # Checked against the allow-list of what qdretrain writes before anything is built: safe_mode
        # alone lets a function reference (e.g. pydoc.pipepager) through.
        from retrain.model_folder.saved_model import load_keras_file
        model = load_keras_file(os.path.join(model_dir, KERAS_MODEL_FILE))
        return KerasExtractor(model, int(model.inputs[0].shape[1]))
    from retrain.families import architectures
    if model_dir and architectures.get(config.architecture).is_native:
        # The native nets are whole Keras models with a layer named "embedding" (retrain/families/native/nets.py).
        from retrain.model_folder.saved_model import load_keras_model
        model = load_keras_model(os.path.join(model_dir, "saved_model"))
        return KerasExtractor(model, int(model.inputs[0].shape[1]))
    return BottleneckExtractor(config, _input_preprocessing(model_dir, config))


def _input_preprocessing(model_dir: Optional[str], config: TrainConfig) -> str:
    """A model folder's input preprocessing (older folders: none); without one, an explicit choice or
    none (an audit of a folder with no model: the plain backbone's view)."""
    if model_dir:
        from retrain.model_folder import contract as outputs
        path = os.path.join(model_dir, outputs.MODEL_INFO_FILE)
        if os.path.exists(path):
            return outputs.read_model_info(path, required=False).get("input_preprocessing", "none")
    return config.input_preprocessing if config.input_preprocessing != "auto" else "none"


def extract(model_dir: str, records: Sequence[ImageRecord], extractor=None) -> np.ndarray:
    """The interface: embeddings of `records` under the model in `model_dir`, float32 [N, D].

    Args:
      model_dir: a `qdretrain train` output folder.
      records: images to embed.
      extractor: reuse one (from `extractor_for`) across calls.

    Raises:
      DatasetError: some records could not be decoded (use `dataset_embeddings` to drop them).
    """
    extractor = extractor or extractor_for(model_dir, load_run_config(model_dir))
    vectors, kept = extractor.embed_records(records)
    if len(kept) != len(records):
        raise DatasetError(f"{len(records) - len(kept)} of {len(records)} images could not be decoded; "
                           f"remove them or use dataset_embeddings, which leaves them out.")
    return vectors


def dataset_embeddings(config: TrainConfig, extractor, progress: bool = True) -> Embeddings:
    """(Embeddings of the whole dataset of `config`, each record tagged with its split, labels)."""
    from retrain.data.loading import load_index
    from retrain.data.split import SETS, split_records
    index = load_index(config)
    splits = split_records(index.records, config.testing_percentage, config.validation_percentage)
    records = [r for name in SETS for r in splits[name]]
    where = {r.relpath: name for name in SETS for r in splits[name]}
    vectors, kept = extractor.embed_records(records, progress=progress)
    return Embeddings(vectors=np.asarray(vectors, np.float32), records=tuple(kept),
                      splits=tuple(where[r.relpath] for r in kept)), index.labels
