"""Mixup (Zhang et al., 2018): each drawing of a batch blended with another one, its target likewise.

    x' = lam * x_i + (1 - lam) * x_j,   y' = lam * y_i + (1 - lam) * y_j,   lam ~ Beta(alpha, alpha)

one lam per drawing; the partner j is the drawing at the mirrored place of the batch (the stream is
shuffled, so the pairs change every batch). Runs inside tf.data on ink images float32 [b, h, w, 1] and
one-hot or soft (distillation) targets [b, C]. Off by default: measured at 69 classes, see
docs/benchmarks.md#mixup.
"""

from __future__ import annotations

from common.tfcompat import tf


def mix(images, targets, alpha: float):
    """The batch (images, targets) mixed with Beta(alpha, alpha) weights; alpha <= 0 returns it as is."""
    if alpha <= 0:
        return images, targets
    batch = tf.shape(images)[0]
    # Beta(a, a) as g1 / (g1 + g2) with g ~ Gamma(a): tf.random has no Beta sampler.
    g1, g2 = tf.random.gamma([batch], alpha), tf.random.gamma([batch], alpha)
    lam = g1 / tf.maximum(g1 + g2, 1e-12)
    mixed_images = _blend(images, tf.reverse(images, axis=[0]), tf.reshape(lam, [-1, 1, 1, 1]))
    mixed_targets = _blend(targets, tf.reverse(targets, axis=[0]), tf.reshape(lam, [-1, 1]))
    return mixed_images, mixed_targets


def _blend(a, b, lam):
    return lam * a + (1.0 - lam) * b
