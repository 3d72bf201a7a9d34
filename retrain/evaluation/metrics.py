"""Ranking metrics beyond top-k accuracy: MAP@k, the Kaggle Quick, Draw! competition's metric.

MAP@3 there: each drawing has one true label; a prediction lists up to 3 labels, and scores
1/rank of the true label if it is among them, else 0; the mean over drawings.
"""

from __future__ import annotations

import numpy as np


def map_at_k(probabilities: np.ndarray, true_indices: np.ndarray, k: int = 3) -> float:
    """Mean average precision at k for single-label data.

    Args:
      probabilities: [n, classes] scores (higher is better).
      true_indices: [n] true class indices.
      k: how many ranked guesses count.

    Returns:
      MAP@k in [0, 1]; 0.0 for no drawings.

    Raises:
      ValueError: shapes do not match, or k < 1.
    """
    probabilities = np.asarray(probabilities)
    true_indices = np.asarray(true_indices)
    if k < 1:
        raise ValueError("k must be at least 1")
    if probabilities.ndim != 2 or probabilities.shape[0] != true_indices.shape[0]:
        raise ValueError(f"probabilities {probabilities.shape} and labels {true_indices.shape} do not match")
    if not len(true_indices):
        return 0.0
    top = top_k_indices(probabilities, k)
    hits = top == true_indices[:, None]
    scores = (hits / np.arange(1, top.shape[1] + 1)[None, :]).sum(axis=1)
    return float(scores.mean())


def top_k_indices(probabilities: np.ndarray, k: int) -> np.ndarray:
    """[n, min(k, classes)] class indices, best first; ties go to the lower index (stable)."""
    k = min(k, probabilities.shape[1])
    return np.argsort(-np.asarray(probabilities), axis=1, kind="stable")[:, :k]


def macro_accuracy(per_class: dict) -> float:
    """The mean of per-class top-1 accuracies over the classes that have test images (what a user who
    draws every class equally often sees); NaN when none has. The micro top-1 weighs classes by their
    test count, so on unbalanced data it hides small classes the model never gets right."""
    scores = [stats["accuracy"] for stats in per_class.values() if stats.get("count")]
    return float(np.mean(scores)) if scores else float("nan")


CALIBRATION_BINS = 15  # the usual ECE binning (Guo et al. 2017): 15 equal-width confidence bins


def calibration(probabilities: np.ndarray, true_indices: np.ndarray, bins: int = CALIBRATION_BINS):
    """Expected calibration error and the reliability diagram's bins.

    The top-1 confidence of each drawing is binned into `bins` equal-width bins; ECE is the
    count-weighted mean of |accuracy - mean confidence| over the bins: 0 for a model whose "80% sure"
    is right 80% of the time.

    Returns:
      (ece in [0, 1] (NaN for no drawings), [(low, high, count, accuracy or None, confidence or None)]).
    """
    probabilities = np.asarray(probabilities, np.float64)
    true_indices = np.asarray(true_indices)
    if not len(true_indices):
        return float("nan"), []
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == true_indices
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        if count:
            accuracy, mean_confidence = float(correct[members].mean()), float(confidence[members].mean())
            ece += count / len(true_indices) * abs(accuracy - mean_confidence)
            table.append((float(edges[b]), float(edges[b + 1]), count, accuracy, mean_confidence))
        else:
            table.append((float(edges[b]), float(edges[b + 1]), 0, None, None))
    return float(ece), table
