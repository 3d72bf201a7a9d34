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
