"""The most frequent mistakes, for evaluations with too many classes to read as a matrix.

At 344 classes a confusion matrix has 118,336 cells, each a pixel or two wide: nothing can be read off
it. What one wants to know there is which pairs the model mixes up most ("cooler -> oven", 12 times,
40% of the coolers), so above `MANY_CLASSES` the evaluation lists those instead (evaluation.json, the
printed summary, and a bar plot, retrain/evaluation/plots.py). Pure numpy: no TensorFlow, no matplotlib.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

MANY_CLASSES = 30  # above this, the matrix plot's cells are too small to annotate or to read
TOP_CONFUSIONS = 20  # pairs in evaluation.json and the plot: enough to see the model's main mix-ups
SUMMARY_CONFUSIONS = 10  # pairs printed after training: a screenful


@dataclasses.dataclass(frozen=True)
class Confusion:
    """One (true, predicted) pair of a wrong top-1 prediction.

    Attributes:
      true_label / predicted_label: the pair.
      count: test images of `true_label` predicted as `predicted_label`.
      share: count / test images of `true_label` (how much of that class goes this way), in (0, 1].
    """
    true_label: str
    predicted_label: str
    count: int
    share: float


def many_classes(num_classes: int) -> bool:
    """Whether an evaluation of this many classes reports top confusions instead of the matrix."""
    return num_classes > MANY_CLASSES


def top_confusions(confusion: np.ndarray, labels: Sequence[str], limit: int = TOP_CONFUSIONS) -> tuple[Confusion, ...]:
    """The `limit` most frequent off-diagonal cells of a confusion matrix.

    Ordered by count, then share (the same count hurts a small class more), then label order, so the
    result does not depend on how numpy sorts ties.

    Args:
      confusion: `[C, C]` counts, rows true labels, columns predicted ones (evaluate.EvaluationResult).
      labels: the C labels.
      limit: at most this many pairs.

    Returns:
      The pairs, most frequent first; () when nothing was misclassified.

    Raises:
      ValueError: `confusion` is not square or does not match `labels`.
    """
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion must be [{len(labels)}, {len(labels)}] for {len(labels)} labels, got "
                         f"shape {confusion.shape}")
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    rows, cols = np.nonzero(off)
    totals = confusion.sum(axis=1)
    pairs = [Confusion(str(labels[r]), str(labels[c]), int(off[r, c]), float(off[r, c] / totals[r]))
             for r, c in zip(rows, cols)]
    order = {label: i for i, label in enumerate(labels)}
    pairs.sort(key=lambda p: (-p.count, -p.share, order[p.true_label], order[p.predicted_label]))
    return tuple(pairs[:limit])


def format_table(pairs: Sequence[Confusion]) -> list[str]:
    """Lines of a text table: true -> predicted, count, share of the true class."""
    if not pairs:
        return ["  (no confusions: every test image was classified right)"]
    width = max(len(p.true_label) for p in pairs)
    return [f"  {p.true_label:<{width}} -> {p.predicted_label}  {p.count}  ({100 * p.share:.0f}% of "
            f"{p.true_label})" for p in pairs]
