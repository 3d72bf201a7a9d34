"""Label errors by confident learning (Northcutt, Jiang & Chuang, JAIR 2021), scored and ranked.

Input: out-of-sample class probabilities of every drawing (heads.py). Per class j a confident
threshold t_j = the mean probability of j over the drawings labelled j (the model's own confidence
on that class, so a hard class is not held to an easy class's bar). A drawing labelled i "confidently
belongs" to j when p_j >= t_j (the largest such p_j if several); counting these gives the confident
joint C[i][j], calibrated so each row sums to the class's size: an estimate of how many drawings
labelled i are really j. In the variant used here (prune by class), the sum over j != i of
C[i][j] drawings labelled i with the lowest p_i are label issues, unless the model's top class is i anyway.

That set adapts to the data: it is about as large as the estimated noise. On QuickDraw it also holds
drawings the model merely finds hard (a linear head on MobileNet 0.25 bottlenecks is ~90% right on
13 classes, ~75% on 69), so each issue gets a score, 1 - p(given label) out of sample, and only issues with a score at
least `min_score` are reported as findings (default measured in docs/audit.md), ranked by margin
p(given) - p(suggested), most negative first (the paper's "normalized margin" order).

Two engines give the confident-learning set: `cleanlab` (the maintained implementation; the `audit`
extra) and `builtin` (the same rule in NumPy, so the audit works without the extra).
"auto" uses cleanlab when it is installed. bench/bench_audit.py measures that they agree.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from common.errors import ConfigError

ENGINES = ("auto", "cleanlab", "builtin")
# Prune by class, not cleanlab's default prune by noise rate: that one takes C[i][j] drawings per
# pair of classes, and 1% random relabels spread over 156 pairs (13 classes) round most pairs to
# 0, so it missed up to 28% of planted errors; by class, the counts add up per given class
# (measured with bench_audit.py; the numbers are in docs/audit.md).
FILTER = "prune_by_class"


@dataclasses.dataclass(frozen=True)
class LabelError:
    """A drawing whose given label is likely wrong: an index into the audited records."""

    index: int
    given: int          # label index
    suggested: int      # label index: the out-of-sample head's top class
    score: float        # 1 - out-of-sample probability of the given label; higher = surer it is wrong
    given_probability: float
    suggested_probability: float

    @property
    def margin(self) -> float:
        """p(given) - p(suggested): the rank key (most negative first), confident learning's
        "normalized margin" order (Northcutt et al.): a drawing whose suggested class is also sure ranks
        above one the model merely finds unlike its label."""
        return self.given_probability - self.suggested_probability


def confident_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """t_j: mean p_j over the drawings labelled j (1.0 for a class with none: never confident)."""
    thresholds = np.ones(probs.shape[1])
    for j in np.unique(labels):
        thresholds[j] = probs[labels == j, j].mean()
    return thresholds


def confident_joint(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """C[given][true], calibrated so row i sums to the number of drawings labelled i."""
    k = probs.shape[1]
    thresholds = confident_thresholds(probs, labels)
    above = probs >= thresholds - 1e-6
    # Among the classes a drawing confidently belongs to, the most probable one.
    masked = np.where(above, probs, -np.inf)
    true = np.argmax(masked, axis=1)
    confident = above.any(axis=1)
    joint = np.zeros((k, k))
    np.add.at(joint, (labels[confident], true[confident]), 1)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    # Calibrate: each row to its class's size (the drawings no class was confident about are
    # spread like the confident ones).
    rows = joint.sum(axis=1, keepdims=True)
    return np.where(rows > 0, joint / np.maximum(rows, 1) * counts[:, None], 0.0)


def builtin_issues(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean [N]: confident learning's label issues, pruned by class (cleanlab's prune_by_class)."""
    joint = confident_joint(probs, labels)
    issues = np.zeros(len(labels), bool)
    for i in range(probs.shape[1]):
        members = np.flatnonzero(labels == i)
        # The estimated number of drawings labelled i that are really another class; cleanlab keeps
        # at least one drawing per class, so a class is never pruned empty.
        count = min(int(round(joint[i].sum() - joint[i, i])), len(members) - 1)
        if count <= 0:
            continue
        self_confidence = probs[members, i]
        issues[members[np.argsort(self_confidence, kind="stable")[:count]]] = True
    issues[np.argmax(probs, axis=1) == labels] = False  # the model agrees with the label
    return issues


def cleanlab_issues(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean [N] from cleanlab.filter.find_label_issues (prune by class)."""
    from cleanlab.filter import find_label_issues
    # n_jobs=1: cleanlab's multiprocessing would fork a process that has TensorFlow loaded.
    return np.asarray(find_label_issues(labels, probs, filter_by=FILTER, n_jobs=1), bool)


def resolve_engine(engine: str) -> str:
    """"auto" -> "cleanlab" if importable, else "builtin"; an explicit "cleanlab" must import.

    Raises:
      ConfigError: unknown engine, or cleanlab asked for and not installed.
    """
    if engine not in ENGINES:
        raise ConfigError(f"label error engine {engine!r}: use one of {', '.join(ENGINES)}.")
    if engine == "builtin":
        return engine
    try:
        import cleanlab  # noqa: F401
    except ImportError:
        if engine == "cleanlab":
            raise ConfigError("cleanlab is not installed: pip install 'qdretrain[audit]' (or pass "
                              "--label_engine builtin, the same rule in NumPy).") from None
        return "builtin"
    return "cleanlab"


def find_label_errors(probs: np.ndarray, labels, min_score: float = 0.0, engine: str = "auto",
                      exclude=()) -> list[LabelError]:
    """Confident learning's issues with score >= min_score, best first: by margin (p(given) -
    p(suggested), most negative first, then score. Measured on bench_audit.py's planted errors
    (docs/audit.md): better than score order at 13 classes, worse at 69; neither wins everywhere.

    Args:
      probs: out-of-sample probabilities [N, C] (heads.out_of_sample_probabilities).
      labels: given label per row.
      min_score: report only issues at least this sure (1 - p(given)).
      engine: "auto", "cleanlab" or "builtin".
      exclude: rows never reported (e.g. exact copies across classes, judged as a pair instead).
    """
    labels = np.asarray(labels, np.int64)
    probs = np.asarray(probs, np.float64)
    engine = resolve_engine(engine)
    issues = cleanlab_issues(probs, labels) if engine == "cleanlab" else builtin_issues(probs, labels)
    given_p = probs[np.arange(len(labels)), labels]
    others = probs.copy()
    others[np.arange(len(labels)), labels] = -1.0
    suggested = np.argmax(others, axis=1)
    skip = set(int(i) for i in exclude)
    found = [LabelError(int(i), int(labels[i]), int(suggested[i]), float(1.0 - given_p[i]),
                        float(given_p[i]), float(probs[i, suggested[i]]))
             for i in np.flatnonzero(issues) if i not in skip and 1.0 - given_p[i] >= min_score]
    return sorted(found, key=lambda e: (e.margin, -e.score, e.index))
