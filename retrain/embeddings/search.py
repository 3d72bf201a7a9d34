"""Top-k nearest neighbours of embeddings: exact (NumPy, batched) and approximate (hnswlib).

Embeddings are L2-normalised first, so cosine similarity is a dot product and the L2 distance follows
from it (|a - b|^2 = 2 - 2 cos). Exact search is a batched matrix product: it stays interactive
(well under a second per query batch) up to EXACT_MAX_ITEMS items; above that, `build_index` uses an
HNSW graph (hnswlib, the `ann` extra), chosen over faiss-cpu by measurement (README, "Embeddings").
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from common.errors import ConfigError

METRICS = ("cosine", "l2")
# Exact search of one query over this many 1k-D float32 vectors is ~0.1 s on one core (bench), the
# limit where an interactive `similar` stays quick; beyond it the ANN index pays for its build time.
EXACT_MAX_ITEMS = 200_000
_BLOCK = 1024  # queries per matrix product at most ...
_BLOCK_ELEMENTS = 32_000_000  # ... and at most this many scores in one (a 1M-item block: 32 queries,
# 128 MB of scores + 256 MB of argpartition's int64 indices, instead of 1024 x 1M = 4 GB + 8 GB)


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero), float32."""
    x = np.asarray(x, np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def to_distance(similarity: np.ndarray, metric: str) -> np.ndarray:
    """Cosine similarity of unit vectors -> the metric's distance (cosine: 1 - cos; l2: Euclidean)."""
    if metric == "cosine":
        return 1.0 - similarity
    return np.sqrt(np.maximum(2.0 - 2.0 * similarity, 0.0))


@dataclasses.dataclass(frozen=True)
class Neighbours:
    """indices [q, k] into the searched items (nearest first), similarity [q, k] (cosine)."""

    indices: np.ndarray
    similarity: np.ndarray

    def distance(self, metric: str = "cosine") -> np.ndarray:
        return to_distance(self.similarity, metric)


def exact_topk(queries: np.ndarray, items: np.ndarray, k: int, exclude_self: bool = False,
               items_normalized: bool = False) -> Neighbours:
    """Exact top-k by cosine similarity, in blocks of queries.

    Args:
      queries: [q, D] (normalised here).
      items: [n, D] (normalised here).
      k: neighbours per query (at most n, or n - 1 with exclude_self).
      exclude_self: queries are the items themselves (same order): never return a query as its own
        neighbour.
      items_normalized: `items` are unit rows already (an index): skip the copy (1 GB at 1M x 256).

    Returns:
      Neighbours, nearest first; ties broken by item index.
    """
    q, x = normalize(queries), (np.asarray(items, np.float32) if items_normalized else normalize(items))
    k = min(k, len(x) - (1 if exclude_self else 0))
    if k < 1:
        return Neighbours(np.zeros((len(q), 0), np.int64), np.zeros((len(q), 0), np.float32))
    indices = np.zeros((len(q), k), np.int64)
    sims = np.zeros((len(q), k), np.float32)
    step = max(1, min(_BLOCK, _BLOCK_ELEMENTS // len(x)))
    for start in range(0, len(q), step):
        block = q[start:start + step] @ x.T
        if exclude_self:
            rows = np.arange(len(block))
            block[rows, start + rows] = -np.inf
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        part_sims = np.take_along_axis(block, part, axis=1)
        order = np.lexsort((part, -part_sims), axis=1)
        indices[start:start + len(block)] = np.take_along_axis(part, order, axis=1)
        sims[start:start + len(block)] = np.take_along_axis(part_sims, order, axis=1)
    return Neighbours(indices, sims)


class ExactIndex:
    """Brute-force index: exact results, no build cost."""

    kind = "exact"

    def __init__(self, items: np.ndarray):
        self.items = normalize(items)

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        return exact_topk(queries, self.items, k, items_normalized=True)


class HnswIndex:
    """HNSW graph (hnswlib) over unit vectors with the inner product.

    Args:
      items: [n, D].
      m, ef_construction, ef_search: graph degree and build / query beam widths (hnswlib's knobs:
        higher is slower and more accurate). ef_search None: `default_ef_search(len(items))`.
      threads: build threads (-1: all cores).
    """

    kind = "hnsw"

    def __init__(self, items: np.ndarray, m: int = 16, ef_construction: int = 100,
                 ef_search: Optional[int] = None, threads: int = -1, seed: int = 0):
        hnswlib = require_ann()
        items = normalize(items)
        self.index = hnswlib.Index(space="ip", dim=items.shape[1])
        self.index.init_index(max_elements=len(items), ef_construction=ef_construction, M=m,
                              random_seed=seed)
        self.index.add_items(items, np.arange(len(items)), num_threads=threads)
        self.ef_search = ef_search or default_ef_search(len(items))
        self.size = len(items)

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        k = min(k, self.size)
        self.index.set_ef(max(self.ef_search, k))
        labels, distances = self.index.knn_query(normalize(queries), k=k)
        return Neighbours(labels.astype(np.int64), (1.0 - distances).astype(np.float32))


def default_ef_search(size: int) -> int:
    """The query beam width for an index of `size` items: 64 up to 100k, growing to ~256 at 1M.

    Measured (bench_embeddings, 256-d, M 16, ef_construction 100): recall@10 0.99 up to 100k at 64,
    but 0.71-0.76 at 1M, where 256 gives 0.96 for 0.65 ms a query.
    """
    if size <= 100_000:
        return 64
    return int(min(512, 64 * (size / 100_000) ** 0.6))


def require_ann():
    """hnswlib, or an error saying how to install it."""
    try:
        import hnswlib
    except ImportError:
        raise ConfigError("Approximate search needs hnswlib: pip install 'qdretrain[ann]' (or use "
                          "--search exact, which is fine up to a few hundred thousand drawings).") from None
    return hnswlib


def build_index(items: np.ndarray, method: str = "auto", exact_max_items: int = EXACT_MAX_ITEMS):
    """The index for `items`: "exact", "hnsw", or "auto" (exact up to `exact_max_items`).

    Raises:
      ConfigError: unknown method, or "hnsw" without hnswlib installed.
    """
    if method not in ("auto", "exact", "hnsw"):
        raise ConfigError(f"Unknown search method {method!r}; choose auto, exact or hnsw.")
    if method == "exact" or (method == "auto" and len(items) <= exact_max_items):
        return ExactIndex(items)
    import time

    from common.progress import echo
    echo(f"Building the HNSW index over {len(items)} drawings (hnswlib, all cores)...")
    start = time.monotonic()
    index = HnswIndex(items)
    echo(f"  HNSW index built in {time.monotonic() - start:.1f}s.")
    return index


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k indices that the approximate top-k found."""
    k = exact.shape[1]
    if k == 0:
        return 1.0
    hits = [len(set(a[:k]) & set(e)) for a, e in zip(approx, exact)]
    return float(np.mean(hits) / k)


def label_vote(neighbour_labels: np.ndarray, num_classes: int, weights: Optional[np.ndarray] = None):
    """Per row, the share of neighbours in each class: [q, num_classes] (rows sum to 1)."""
    q, k = neighbour_labels.shape
    weights = np.ones((q, k), np.float32) if weights is None else np.asarray(weights, np.float32)
    votes = np.zeros((q, num_classes), np.float32)
    np.add.at(votes, (np.repeat(np.arange(q), k), neighbour_labels.ravel()), weights.ravel())
    return votes / np.maximum(votes.sum(axis=1, keepdims=True), 1e-12)
