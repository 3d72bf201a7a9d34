"""A teacher's soft predictions on the student's training drawings, computed once, memory flat.

The student (a native net) streams the training drawings class by class in file order
(retrain/families/native/stream.py); the teacher's probabilities for drawing k of class c sit at row
offsets[c] + k of one float16 file ([training drawings, classes]: 160k x 69 = 22 MB, 3.4M x 345 =
2.3 GB on disk, memory-mapped so RAM stays flat). The teacher is any model folder with the same labels:
a TF-Hub head (`mobilenet_1.0_224`) or a bigger native net; its inputs are made the way it was trained
(retrain/evaluation/test_images.model_inputs), in chunks. The file is kept in the student's
--checkpoint_dir under a name that hashes the teacher's run id and the split, so a rerun reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from common.errors import ConfigError, DatasetError

CHUNK = 256  # drawings per teacher forward pass: 256 x 224 x 224 x 3 floats = 154 MB at 224 px


def teacher_labels(model_dir: str) -> list:
    from retrain.model_folder.contract import LABELS_FILE, read_labels
    path = os.path.join(model_dir, LABELS_FILE)
    if not os.path.exists(path):
        raise ConfigError(f"--teacher {model_dir}: no {LABELS_FILE} there; pass a model folder written by "
                          f"`qdretrain train` (its --output_dir).")
    return read_labels(path)


def check_labels(model_dir: str, labels) -> None:
    """Raises ConfigError when the teacher's classes are not the student's, in the same order."""
    theirs = teacher_labels(model_dir)
    if list(theirs) != list(labels):
        missing = sorted(set(labels) - set(theirs))[:5]
        raise ConfigError(f"--teacher {model_dir} was trained on {len(theirs)} classes, the student's data has "
                          f"{len(labels)}{f' (the teacher lacks {missing})' if missing else ''}; a teacher must "
                          f"have exactly the student's classes. Train the teacher on the same --quickdraw_dir.")


def _info(model_dir: str) -> dict:
    from retrain.model_folder.contract import MODEL_INFO_FILE
    with open(os.path.join(model_dir, MODEL_INFO_FILE), encoding="utf-8") as handle:
        return json.load(handle)


def soft_targets(model_dir: str, class_sources, split, labels, cache_dir: str, echo, predict=None):
    """(float16 memmap [n, C] of the teacher's probabilities, offsets [C + 1]) for `split`'s drawings,
    class by class in the order the student's stream reads them.

    Args:
      model_dir: the teacher's model folder.
      class_sources, split: the student's data (stream.ClassSource list, stream.SplitSpec).
      labels: the student's labels (must be the teacher's).
      cache_dir: where the file is kept (the student's checkpoint folder).
      echo: prints progress.
      predict: (records) -> [n, C] probabilities, for tests; default: the teacher's SavedModel.

    Raises:
      ConfigError: the teacher's labels differ; DatasetError: a drawing could not be read.
    """
    from retrain.families.native import stream
    from retrain.data.records import ImageRecord
    check_labels(model_dir, labels)
    info = _info(model_dir)
    key = hashlib.sha256(json.dumps([info.get("run_id"), os.path.abspath(model_dir), split.name,
                                     split.testing_percentage, split.validation_percentage, split.max_per_class,
                                     list(split.shard), sorted(split.excluded)[:100], len(split.excluded),
                                     [(s.label, s.path) for s in class_sources]]).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, f"teacher_{key}.npy")
    rows = [list(stream.split_rows(source, split)) for source in class_sources]
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    if os.path.exists(path):
        targets = np.load(path, mmap_mode="r")
        if targets.shape == (int(offsets[-1]), len(labels)):
            echo(f"Teacher predictions: reusing {path}")
            return targets, offsets
    if predict is None:
        predict = _saved_model_predictor(model_dir, info)
    os.makedirs(cache_dir, exist_ok=True)
    partial = path + ".partial"
    targets = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16,
                                        shape=(int(offsets[-1]), len(labels)))
    echo(f"Teacher predictions on {int(offsets[-1])} training drawings ({model_dir})...")
    for c, source in enumerate(class_sources):
        for start in range(0, len(rows[c]), CHUNK):
            chunk = [ImageRecord(label=source.label, label_index=c, relpath=stream.key(source, row),
                                 source=source.path, row=row) for row in rows[c][start:start + CHUNK]]
            probabilities = np.asarray(predict(chunk))
            if probabilities.shape != (len(chunk), len(labels)):
                raise DatasetError(f"the teacher gave {probabilities.shape} predictions for {len(chunk)} drawings "
                                   f"of {source.path}; some could not be read. Check the file.")
            targets[offsets[c] + start: offsets[c] + start + len(chunk)] = probabilities
    targets.flush()
    del targets
    os.replace(partial, path)
    return np.load(path, mmap_mode="r"), offsets


def _saved_model_predictor(model_dir: str, info: dict):
    from retrain.evaluation.test_images import model_inputs
    from retrain.model_folder.saved_model import load_predictor
    classifier = load_predictor(os.path.join(model_dir, "saved_model"))  # graph ops only: no Python from the folder
    size, family = int(info["input_height"]), info.get("family", "tfhub_head")

    def predict(records):
        kept, inputs = model_inputs(records, size, family)
        if len(kept) != len(records):
            raise DatasetError(f"{len(records) - len(kept)} drawing(s) of {records[0].source} could not be "
                               f"read for the teacher.")
        return classifier(inputs)
    return predict


def blend(soft, one_hot, weight: float, temperature: float = 1.0):
    """The student's target: weight x the teacher's probabilities (sharpened or softened by
    temperature: p**(1/T), renormalised) + (1 - weight) x the label. Cross-entropy is linear in the
    target, so this is weight x CE(teacher) + (1 - weight) x CE(label); a teacher that outputs the
    one-hot label leaves plain training unchanged."""
    from common.tfcompat import tf
    soft = tf.cast(soft, tf.float32)
    if temperature != 1.0:
        soft = tf.pow(tf.maximum(soft, 1e-8), 1.0 / temperature)
        soft = soft / tf.reduce_sum(soft, axis=-1, keepdims=True)
    return weight * soft + (1.0 - weight) * one_hot
