"""Out-of-sample class probabilities of every drawing: k-fold softmax heads on its embedding.

Confident learning (label_errors.py) needs, for each drawing, class probabilities from a model that
never saw that drawing's label. A softmax (multinomial logistic) head on the embedding is what
`qdretrain train` fits on a TF-Hub backbone's bottleneck, so k heads on k-1 folds each give those
probabilities at the cost of k small convex fits, no image is run through the backbone again (the
embeddings come from the bottleneck cache). For a native net the embedding is its `embedding` layer,
read once; fitting only this head (not re-training the whole net k times, ~k x its training time)
is what makes the audit seconds rather than hours: the price is that the head sees the net's features,
which were trained on all labels, the noisy ones included (documented in docs/audit.md).

Plain NumPy (no scikit-learn in the core): full-batch Nesterov gradient descent with step 1/L on the
L2-regularised cross-entropy, which is smooth and strongly convex, so a few hundred steps converge.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from common.errors import DatasetError


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """The k-fold heads (defaults measured by bench/bench_audit.py, docs/audit.md)."""

    folds: int = 5          # k: each drawing is predicted by the head fitted on the other k-1 folds
    l2: float = 0.03        # weight decay: softer probabilities rank planted errors better
                            # (13 classes: clean flags 1.8% at 1e-3, 1.2% at 0.03; docs/audit.md)
    steps: int = 300        # Nesterov steps per fold
    seed: int = 0           # fold assignment


def standardize(x: np.ndarray) -> np.ndarray:
    """Rows L2-normalised, then each feature centred and scaled (a better-conditioned fit)."""
    x = np.asarray(x, np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_softmax(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float, steps: int) -> np.ndarray:
    """Weights [D + 1, C] (last row: bias) of an L2-regularised softmax regression on `x`."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    onehot = np.zeros((n, num_classes))
    onehot[np.arange(n), y] = 1.0
    # Lipschitz constant of the gradient: the softmax Hessian is at most 1/2 times X^T X / n (+ l2).
    v = np.ones(d + 1) / np.sqrt(d + 1)
    for _ in range(30):  # power iteration for the top eigenvalue of X^T X / n
        v = xb.T @ (xb @ v) / n
        v /= np.linalg.norm(v) + 1e-12
    lipschitz = 0.5 * float(v @ (xb.T @ (xb @ v))) / n + l2
    step = 1.0 / lipschitz
    w = np.zeros((d + 1, num_classes))
    previous = w
    for t in range(1, steps + 1):
        look = w + (t - 1) / (t + 2) * (w - previous)
        grad = xb.T @ (softmax(xb @ look) - onehot) / n + l2 * look
        previous, w = w, look - step * grad
    return w


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return softmax(np.hstack([x, np.ones((len(x), 1))]) @ w)


def fold_of(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold per row, stratified: each class spread evenly over the folds (in a random order)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(labels), np.int64)
    offset = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        out[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)  # small classes do not all start in fold 0
    return out


def out_of_sample_probabilities(vectors: np.ndarray, labels, num_classes: int,
                                config: HeadConfig = HeadConfig()) -> np.ndarray:
    """float [N, num_classes]: row i from the head fitted without row i's fold.

    Raises:
      DatasetError: fewer drawings than folds, or a class with fewer than 2 drawings (confident
        learning's per-class threshold needs a few of each).
    """
    labels = np.asarray(labels, np.int64)
    if config.folds < 2:
        raise DatasetError(f"folds={config.folds}: pass at least 2 (5 is the default).")
    if len(labels) < config.folds:
        raise DatasetError(f"{len(labels)} drawings cannot be split into {config.folds} folds: audit "
                           f"more drawings or pass fewer folds.")
    x = standardize(vectors)
    fold = fold_of(labels, config.folds, config.seed)
    probs = np.zeros((len(labels), num_classes))
    for k in range(config.folds):
        held = fold == k
        w = fit_softmax(x[~held], labels[~held], num_classes, config.l2, config.steps)
        probs[held] = predict(w, x[held])
    return probs
