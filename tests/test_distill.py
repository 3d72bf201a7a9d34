"""Distillation (--teacher): the distilled family, the teacher's soft targets, the blended loss."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from common.errors import ConfigError


def _npy(folder, rows=(12, 30, 20)):
    os.makedirs(folder, exist_ok=True)
    for c, n in enumerate(rows):
        image = np.zeros((n, 28, 28), np.uint8)
        image[:, 4 + 6 * c: 10 + 6 * c, 4:24] = 255
        np.save(os.path.join(folder, f"class{c}.npy"), image.reshape(n, 784))
    return str(folder)


def _teacher_folder(folder, labels):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "retrained_labels.txt"), "w") as handle:
        handle.write("\n".join(labels) + "\n")
    with open(os.path.join(folder, "model_info.json"), "w") as handle:
        json.dump({"run_id": "t1", "family": "native", "input_height": 28}, handle)
    return str(folder)


def test_blend_is_linear_and_a_one_hot_teacher_is_the_label():
    from retrain.families.distilled.teacher import blend
    y = np.eye(3, dtype=np.float32)[[0, 2]]
    np.testing.assert_allclose(blend(y, y, 0.7).numpy(), y)
    soft = np.array([[0.5, 0.5, 0.0], [0.2, 0.2, 0.6]], np.float32)
    np.testing.assert_allclose(blend(soft, y, 0.5).numpy(), 0.5 * soft + 0.5 * y)
    softened = blend(np.array([[0.8, 0.2, 0.0]], np.float32), np.zeros((1, 3), np.float32), 1.0, 2.0).numpy()
    assert softened[0, 0] < 0.8 and softened.sum() == pytest.approx(1.0)


def test_soft_targets_line_up_with_the_stream_and_are_reused(tmp_path):
    from retrain.families.distilled.teacher import soft_targets
    from retrain.families.native import stream
    sources, _ = stream.discover(_npy(tmp_path / "qd"))
    labels = [s.label for s in sources]
    teacher = _teacher_folder(tmp_path / "teacher", labels)
    split = stream.SplitSpec("training", 10, 10)
    calls = []

    def predict(records):  # a teacher that is sure of the row number's parity: checkable per drawing
        calls.append(len(records))
        out = np.zeros((len(records), 3), np.float32)
        for i, r in enumerate(records):
            out[i, r.label_index] = 0.5 + 0.25 * (r.row % 2)
            out[i, (r.label_index + 1) % 3] = 1 - out[i, r.label_index]
        return out
    targets, offsets = soft_targets(teacher, sources, split, labels, str(tmp_path / "cache"), print, predict)
    bad = stream.BadRows()
    counts = [stream.count_split(sources, split, bad)[s.label] for s in sources]
    assert list(np.diff(offsets)) == counts
    # every drawing the stream yields carries its own row's teacher prediction
    for c, source in enumerate(sources):
        rows = list(stream.split_rows(source, split))
        for k, row in enumerate(rows):
            assert targets[offsets[c] + k][c] == pytest.approx(0.5 + 0.25 * (row % 2))
    drawn = list(stream.mixed(sources, split, bad, counts, "data", 0, repeat=False, targets=(targets, offsets)))
    assert len(drawn) == sum(counts) and all(d[2].shape == (3,) for d in drawn)
    assert all(abs(d[2][d[1]] - 0.5) < 1e-3 or abs(d[2][d[1]] - 0.75) < 1e-3 for d in drawn)
    calls.clear()
    soft_targets(teacher, sources, split, labels, str(tmp_path / "cache"), print, predict)
    assert not calls  # reused from the checkpoint folder


def test_a_teacher_with_other_classes_is_refused_with_advice(tmp_path):
    from retrain.families.distilled.teacher import check_labels
    teacher = _teacher_folder(tmp_path / "t", ["a", "b"])
    with pytest.raises(ConfigError, match="exactly the student's classes"):
        check_labels(teacher, ["a", "b", "c"])


def test_teacher_for_a_tfhub_head_student_is_refused():
    from retrain.families.registry import family_for
    assert family_for("quickdraw_cnn_small", "some/folder").name == "distilled"
    with pytest.raises(ConfigError, match="native student"):
        family_for("mobilenet_0.25_224", "some/folder")


def test_student_on_a_one_hot_teacher_equals_plain_training(tmp_path):
    """The distillation loss with a teacher that outputs the labels is exactly plain training."""
    from common.tfcompat import keras
    from retrain.distribution import strategy as distribute
    from retrain.families import architectures
    from retrain.families.config import TrainConfig
    from retrain.families.native import data as native_data
    from retrain.families.native.train import NativeConfig, fit
    folder = _npy(tmp_path / "qd")
    strategy = distribute.create_strategy("default")
    info = distribute.worker_info(strategy)
    spec = architectures.get("quickdraw_cnn_small")
    weights = []
    for teacher in (None, "one-hot", "uniform"):
        out = tmp_path / f"out_{teacher}"
        config = TrainConfig(quickdraw_dir=folder, architecture="quickdraw_cnn_small", output_dir=str(out),
                             how_many_training_steps=6, train_batch_size=8, learning_rate=0.01,
                             optimizer="adam", augment=False, seed=3)
        native = NativeConfig(shuffle_buffer=16, teacher_weight=0.7)
        data = native_data.drawing_data(config, 0, (0, 1), lambda line: None)
        targets = None
        if teacher:
            counts = [n for _, n in data.train_counts]
            offsets = np.concatenate([[0], np.cumsum(counts)])
            labels = np.repeat(np.arange(len(counts)), counts)
            soft = np.eye(len(counts), dtype=np.float16)[labels]
            targets = (soft if teacher == "one-hot" else np.full_like(soft, 1 / len(counts)), offsets)
        keras.utils.set_random_seed(3)
        model, *_ = fit(config, native, spec, data, strategy, info, lambda line: None, targets)
        weights.append(model.get_weights())
    for plain, distilled in zip(weights[0], weights[1]):
        np.testing.assert_allclose(plain, distilled, rtol=1e-5, atol=1e-6)
    # and the teacher does reach the loss: a uniform teacher trains another net
    assert any(not np.allclose(a, b, atol=1e-6) for a, b in zip(weights[0], weights[2]))
