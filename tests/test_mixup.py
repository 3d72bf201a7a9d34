"""Mixup (retrain/families/native/mixup.py): drawings and targets blended with the same weight."""

import numpy as np
import pytest

from common.errors import ConfigError
from retrain.families.native.native_config import NativeConfig


def _batch(n=6, classes=8):
    from common.tfcompat import tf
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 1, (n, 28, 28, 1)).astype("float32"))
    labels = np.arange(n) % classes  # distinct labels: a mixed target shows its weight
    return images, tf.one_hot(labels, classes), labels


def test_alpha_zero_leaves_the_batch_alone():
    from retrain.families.native.mixup import mix
    images, targets, _ = _batch()
    mixed_images, mixed_targets = mix(images, targets, 0.0)
    assert mixed_images is images and mixed_targets is targets


def test_each_drawing_and_its_target_share_one_weight_with_the_mirrored_partner():
    from common.tfcompat import tf
    from retrain.families.native.mixup import mix
    tf.random.set_seed(1)
    images, targets, labels = _batch()
    mixed_images, mixed_targets = (t.numpy() for t in mix(images, targets, 0.4))
    x, n = images.numpy(), len(labels)
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1.0, rtol=1e-5)
    weights = mixed_targets[np.arange(n), labels]  # lam_i: the drawing's own label's share
    assert np.all((weights >= 0) & (weights <= 1)) and weights.std() > 0.01  # drawn, not constant
    for i in range(n):
        partner = n - 1 - i
        np.testing.assert_allclose(mixed_targets[i, labels[partner]], 1 - weights[i], atol=1e-5)
        np.testing.assert_allclose(mixed_images[i], weights[i] * x[i] + (1 - weights[i]) * x[partner], atol=1e-5)
    assert mixed_images.min() >= 0 and mixed_images.max() <= 1  # still ink in [0, 1]


def test_a_negative_alpha_is_refused_by_name():
    with pytest.raises(ConfigError, match="--mixup"):
        NativeConfig(mixup=-0.1)


def test_training_batches_are_mixed_when_asked_and_only_then():
    """train._batches, the pipeline `fit` uses, applies --mixup: targets stop being one-hot."""
    from common.tfcompat import tf
    from retrain.families.native.train import _batches
    tf.random.set_seed(0)
    ink = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("uint8")
    labels = np.arange(8) % 4
    dataset = tf.data.Dataset.from_tensor_slices((ink, labels))
    _, plain = next(iter(_batches(dataset, 8, 28, 4, None)))
    _, mixed = next(iter(_batches(dataset, 8, 28, 4, None, mixup=0.4)))
    assert set(np.unique(plain.numpy())) == {0.0, 1.0}
    assert np.any((mixed.numpy() > 0.01) & (mixed.numpy() < 0.99))
    np.testing.assert_allclose(mixed.numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_a_nan_alpha_is_refused():
    with pytest.raises(ConfigError, match="--mixup"):
        NativeConfig(mixup=float("nan"))
