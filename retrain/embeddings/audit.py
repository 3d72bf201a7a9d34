"""The dataset audit: duplicates, train/test leaks, label errors (confident learning) and per-class outliers.

All findings come from one k-nearest-neighbour pass over L2-normalised embeddings (search.py):
  * exact duplicates: the same content (the bottleneck cache's content hash), or embeddings at
    cosine >= EXACT_COSINE when no hashes are given;
  * near duplicates (a re-encoded or resized copy: the same drawing, other bytes): two drawings much
    closer to each other than to the rest of their neighbourhood, i.e. 1 - cosine at most
    near_duplicate_ratio times the drawing's distance to its k-th neighbour, and cosine at least
    near_duplicate_cosine. The ratio is what separates copies: an absolute cosine alone cannot, since
    simple classes (diamonds, lollipops) are dense and their ordinary neighbours are as close as a
    JPEG re-encoding is in a sparse class (bench_embeddings: ordinary nearest neighbours reach cosine
    0.995 on MobileNet 0.25 bottlenecks, re-encoded copies go down to 0.989, while the ratio is <= 0.21
    for copies and >= 0.30 for 99.9% of ordinary drawings);
  each pair is typed "same_class", "cross_class" (one of them is mislabelled, or the classes overlap)
  and, independently, "cross_split" when one is in training and the other in validation/testing:
  a leak that inflates test accuracy;
  * label errors: confident learning on out-of-sample class probabilities (label_errors.py,
    heads.py): every drawing is predicted by a softmax head fitted on the other folds' embeddings,
    blended with its k neighbours' label vote (both never see the drawing's own label), per-class
    confident thresholds pick the label issues, and each gets a score (1 - p(given label)); only
    issues at least `label_error_score` sure are findings, ranked by margin. (The earlier neighbour-vote rule
    alone had precision 0.02-0.04 on planted swaps and flagged ~4% of clean data: docs/audit.md.)
  * outliers: within a class, similarity to the class centroid far below the class's typical value
    (robust z-score of at most -outlier_z). A drawing can be both an outlier and a label error.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from retrain.embeddings import heads, label_errors, search
from retrain.embeddings.label_errors import LabelError

EXACT_COSINE = 0.99999  # float noise of identical inputs through the same net


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """Thresholds of one audit (measured on planted errors by bench/bench_embeddings.py; docs/embeddings.md)."""

    k: int = 10                          # neighbours per drawing for votes and duplicate candidates
    near_duplicate_ratio: float = 0.25   # copy's distance / distance to the k-th neighbour, at most
    near_duplicate_cosine: float = 0.95  # floor: an isolated drawing's nearest one is not its copy
    folds: int = 5                       # k-fold heads for out-of-sample probabilities
    head_l2: float = 0.03                # the heads' weight decay (softer, better-ranked probabilities)
    knn_weight: float = 0.5              # share of the neighbours' vote in the blended probabilities
    label_error_score: float = 0.95      # a label issue is reported from this score (1 - p(given)) up
    label_engine: str = "auto"           # cleanlab (the `audit` extra) / builtin / auto
    outlier_z: float = 3.5               # robust z-score (median/MAD) of centroid similarity
    search: str = "auto"                 # exact / hnsw / auto (see search.build_index)


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two drawings that are (near) copies: indices into the audited records."""

    a: int
    b: int
    cosine: float
    exact: bool
    cross_class: bool
    cross_split: bool


@dataclasses.dataclass(frozen=True)
class Outlier:
    index: int
    label: int
    centroid_cosine: float
    z: float


@dataclasses.dataclass(frozen=True)
class AuditResult:
    pairs: tuple
    label_errors: tuple     # LabelError, in rank order (label_errors.find_label_errors)
    outliers: tuple

    def by_kind(self) -> dict[str, list]:
        """Findings per type: exact/near duplicates (same/cross class), cross-split leaks, ..."""
        kinds = {"exact_duplicate_same_class": [], "exact_duplicate_cross_class": [],
                 "near_duplicate_same_class": [], "near_duplicate_cross_class": [],
                 "cross_split_leak": [], "label_error": list(self.label_errors),
                 "outlier": list(self.outliers)}
        for pair in self.pairs:
            kind = ("exact" if pair.exact else "near") + "_duplicate_" + \
                   ("cross_class" if pair.cross_class else "same_class")
            kinds[kind].append(pair)
            if pair.cross_split:
                kinds["cross_split_leak"].append(pair)
        return kinds


def class_centroids(vectors: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Unit-length mean embedding per class, [num_classes, D] (zero for an empty class)."""
    sums = np.zeros((num_classes, vectors.shape[1]), np.float32)
    np.add.at(sums, labels, vectors)
    return search.normalize(sums)


def find_pairs(unit: np.ndarray, neighbours: search.Neighbours, labels: np.ndarray,
               splits: Sequence[str], keys: Optional[Sequence[str]], ratio: float,
               min_cosine: float) -> list[Pair]:
    """Duplicate pairs among the neighbours (each unordered pair once), plus exact groups by key.

    A near pair (a, b) needs 1 - cos(a, b) <= ratio * (1 - cos(a, a's last neighbour)) and
    cos(a, b) >= min_cosine; identical content (same key, or cosine >= EXACT_COSINE) always pairs.
    """
    found: dict[tuple[int, int], Pair] = {}
    # The neighbourhood's scale: distance to the farthest of the k neighbours.
    scale = 1.0 - neighbours.similarity[:, -1] if neighbours.similarity.shape[1] else np.ones(len(unit))

    def add(a: int, b: int, cosine: float, exact: bool) -> None:
        a, b = min(a, b), max(a, b)
        if (a, b) in found:
            return
        leak = (splits[a] == "training") != (splits[b] == "training") if splits else False
        found[(a, b)] = Pair(a, b, float(cosine), exact, bool(labels[a] != labels[b]), bool(leak))

    if keys is not None:
        # Identical content: every pair of a group, even beyond the k neighbours (one image 20 times).
        groups: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            for j, a in enumerate(members):
                for b in members[j + 1:]:
                    add(a, b, float(unit[a] @ unit[b]), True)
    for a, (row, sims) in enumerate(zip(neighbours.indices, neighbours.similarity)):
        for b, cosine in zip(row, sims):
            if b == a:
                continue
            exact = (keys[a] == keys[b]) if keys is not None else cosine >= EXACT_COSINE
            # (cosine >= EXACT_COSINE: a neighbourhood of identical copies has no scale left.)
            if exact or (cosine >= min_cosine and
                         (1.0 - cosine <= ratio * scale[a] or cosine >= EXACT_COSINE)):
                add(a, int(b), cosine, bool(exact))
    return sorted(found.values(), key=lambda p: (-p.cosine, p.a, p.b))


def blended_probabilities(vectors: np.ndarray, neighbours: search.Neighbours, labels: np.ndarray,
                          num_classes: int, config: AuditConfig) -> np.ndarray:
    """Out-of-sample probabilities [N, C]: k-fold heads blended with the neighbours' label vote.

    Why both: the head sees the whole class, the vote the drawing's own neighbourhood (a class's minor
    mode); averaging two models that err differently ranks planted errors better (docs/audit.md).
    The vote is smoothed (+0.5 a class) so no class gets probability 0 from 10 neighbours.
    """
    probs = heads.out_of_sample_probabilities(
        vectors, labels, num_classes, heads.HeadConfig(folds=config.folds, l2=config.head_l2))
    if config.knn_weight <= 0 or neighbours.indices.shape[1] == 0:
        return probs
    k = neighbours.indices.shape[1]
    vote = search.label_vote(labels[neighbours.indices], num_classes).astype(np.float64)
    vote = (vote * k + 0.5) / (k + 0.5 * num_classes)
    return (1.0 - config.knn_weight) * probs + config.knn_weight * vote


def find_outliers(unit: np.ndarray, labels: np.ndarray, centroids: np.ndarray, z_limit: float,
                  exclude: set) -> list[Outlier]:
    """Per class, drawings whose centroid similarity is far below the class's median (robust z)."""
    own = np.einsum("nd,nd->n", unit, centroids[labels])
    result = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < 5:
            continue  # too few to say what is typical
        values = own[members]
        median = np.median(values)
        mad = np.median(np.abs(values - median)) * 1.4826 + 1e-6  # ~std for a normal distribution
        for i, value in zip(members, values):
            z = (value - median) / mad
            if z <= -z_limit and int(i) not in exclude:
                result.append(Outlier(int(i), int(label), float(value), float(z)))
    return sorted(result, key=lambda o: (o.z, o.index))


def audit(vectors: np.ndarray, labels: Sequence[int], num_classes: int, splits: Sequence[str] = (),
          keys: Optional[Sequence[str]] = None, config: AuditConfig = AuditConfig()) -> AuditResult:
    """Runs every check.

    Args:
      vectors: float32 [N, D] embeddings.
      labels: the given label index of each row.
      num_classes: number of labels.
      splits: "training"/"validation"/"testing" per row (empty: no leak check).
      keys: content hash per row (exact duplicates by content; None: by cosine).
      config: thresholds.

    Returns:
      AuditResult; all indices refer to rows of `vectors`.
    """
    labels = np.asarray(labels, np.int64)
    unit = search.normalize(vectors)
    index = search.build_index(unit, config.search)
    neighbours = index.search(unit, config.k + 1)
    # Drop each row itself from its neighbour list (an ANN may miss it; exact copies may precede it).
    rows = []
    sims = []
    for i, (row, sim) in enumerate(zip(neighbours.indices, neighbours.similarity)):
        keep = row != i
        rows.append(row[keep][:config.k])
        sims.append(sim[keep][:config.k])
    width = min(len(r) for r in rows) if rows else 0
    neighbours = search.Neighbours(np.stack([r[:width] for r in rows]), np.stack([s[:width] for s in sims]))
    pairs = find_pairs(unit, neighbours, labels, list(splits), keys, config.near_duplicate_ratio,
                       config.near_duplicate_cosine)
    centroids = class_centroids(unit, labels, num_classes)
    # An exact copy across classes: one of the two labels is wrong, judged as a pair instead.
    exact_cross = {i for p in pairs if p.exact and p.cross_class for i in (p.a, p.b)}
    probs = blended_probabilities(vectors, neighbours, labels, num_classes, config)
    found = label_errors.find_label_errors(probs, labels, config.label_error_score, config.label_engine,
                                           exclude=exact_cross)
    outliers = find_outliers(unit, labels, centroids, config.outlier_z, exclude=set())
    return AuditResult(tuple(pairs), tuple(found), tuple(outliers))


def exclusions(result: AuditResult, splits: Sequence[str], outliers: bool = False,
               label_errors_chosen: Sequence[LabelError] = ()) -> list[int]:
    """Rows to leave out of training: one copy of each same-class duplicate is kept (the training
    one), both of a cross-class duplicate go, and so do the label errors the user chose
    (exclude_choice.py: top N or a score threshold; none by default) and outliers if asked."""
    out: set[int] = set()
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.setdefault(i, i) != i:
            i = parent[i]
        return i

    for pair in result.pairs:
        if pair.cross_class:
            out.update((pair.a, pair.b))
        else:
            parent[root(pair.a)] = root(pair.b)
    # Same-class copies form groups (a drawing copied 3 times): keep one per group, a training one
    # if there is one, so the copies in validation/testing (leaks) are what goes.
    groups: dict[int, list[int]] = {}
    for i in list(parent):
        groups.setdefault(root(i), []).append(i)
    for members in groups.values():
        members.sort(key=lambda i: (not (splits and splits[i] == "training"), i))
        out.update(members[1:])
    out.update(e.index for e in label_errors_chosen)
    if outliers:
        out.update(o.index for o in result.outliers)
    return sorted(out)
