"""Which class each training draw comes from: every class in its chosen share, spread evenly.

Streaming class files until each runs out (the old round robin) starves the small classes: once they
are exhausted the rest of every pass is the big classes only, and the net forgets the small ones at
the end of each pass. Here a pass is a *schedule* of class ids, built before the pass: class c gets
`n_c` slots (its share of the pass length) at stratified random positions (k + u_k) / n_c, k < n_c,
so any window of W consecutive draws holds about W * share_c draws of class c (never off by more than
2), from the first step of the pass to the last. Each class's drawings are then read in their own
order, cycling when a class is drawn more often than it has drawings (balanced / tempered weighting).

Memory: one int32 class id per draw of the pass (3.45M draws: 14 MB) while the pass runs, plus the
float positions while it is built; no drawing list is held. Pure NumPy: every family's stream uses it
(native QuickDraw files, native --image_dir, the TF-Hub head's streamed features).
"""

from __future__ import annotations

import numpy as np

from common.errors import ConfigError

# "data": each class as often as it has drawings (the data's own proportion, now spread evenly);
# "sqrt": tempered, share ~ count**0.5 (small classes up, big ones down, still more data = more draws);
# "balanced": every class equally often (small classes repeat, big ones are sampled across passes).
WEIGHTINGS = ("data", "sqrt", "balanced")
EXPONENTS = {"data": 1.0, "sqrt": 0.5, "balanced": 0.0}


def class_shares(counts, weighting: str = "data") -> np.ndarray:
    """Each class's share of the draws (sums to 1; a class with no drawings gets 0).

    Raises:
      ConfigError: an unknown weighting, or no drawings at all.
    """
    if weighting not in EXPONENTS:
        raise ConfigError(f"class weighting must be one of {', '.join(WEIGHTINGS)} (got {weighting!r}).")
    counts = np.asarray(counts, np.float64)
    if counts.sum() <= 0:
        raise ConfigError("No training drawings to sample from; add drawings or lower the percentages.")
    weights = np.where(counts > 0, np.power(np.maximum(counts, 1), EXPONENTS[weighting]), 0.0)
    return weights / weights.sum()


def slots(counts, weighting: str = "data", length: int = 0) -> np.ndarray:
    """Draws per class in a pass of `length` (default: the number of drawings), by largest remainder,
    so they sum to `length` exactly and every class with drawings gets at least one."""
    counts = np.asarray(counts, np.int64)
    length = int(length or counts.sum())
    shares = class_shares(counts, weighting)
    exact = shares * length
    n = np.floor(exact).astype(np.int64)
    n[(counts > 0) & (n == 0)] = 1  # a class that exists is seen every pass, however small its share
    rest = length - int(n.sum())
    if rest > 0:
        n[np.argsort(-(exact - n), kind="stable")[:rest]] += 1
    elif rest < 0:  # the minimum of one took slots: give them back from the biggest classes
        for c in np.argsort(-n, kind="stable")[:-rest]:
            n[c] -= 1
    return n


def pass_schedule(counts, weighting: str = "data", seed: int = 0, pass_index: int = 0,
                  length: int = 0) -> np.ndarray:
    """The class id of every draw of one pass (int32 [length]), each class spread evenly through it.

    Deterministic in (seed, pass_index), so every worker of a multi-worker run builds the same one.
    """
    n = slots(counts, weighting, length)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(pass_index)])
    ids = np.repeat(np.arange(len(n), dtype=np.int32), n)
    # Stratified positions: slot k of class c lies in [k/n_c, (k+1)/n_c); sorting interleaves classes.
    within = np.concatenate([np.arange(m) for m in n]) if len(ids) else np.zeros(0)
    positions = (within + rng.random(len(ids))) / np.repeat(np.maximum(n, 1), n)
    return ids[np.argsort(positions, kind="stable")]


def spread_order(group_classes, seed: int, pass_index: int) -> np.ndarray:
    """An order of groups (e.g. cached part files, each holding drawings of one class) in which each
    class's groups are spread evenly through the pass: the same rule as `pass_schedule`, one slot per
    group, so a pass never ends on a few classes."""
    group_classes = np.asarray(group_classes, np.int64)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(pass_index)])
    positions = np.empty(len(group_classes))
    for c in np.unique(group_classes):
        members = np.flatnonzero(group_classes == c)
        members = members[rng.permutation(len(members))]
        positions[members] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    return np.argsort(positions, kind="stable")
