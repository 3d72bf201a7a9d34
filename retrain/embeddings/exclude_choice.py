"""Which label errors go into `--exclude_list`: only what the user chose, and what that costs each class.

The audit ranks label errors (label_errors.find_label_errors); it never decides alone to drop them. A user picks the top
`max_exclude`, or every one at least `min_score` sure, or both (the stricter wins); with neither,
no label error is listed (duplicates' extra copies and leaks still are: they are copies, not
judgements). The closing line says how many drawings would go and what share of each class.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Optional, Sequence

from common.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ExcludeChoice:
    """The user's choice of label errors to exclude (None: not chosen by that criterion)."""

    max_exclude: Optional[int] = None     # the top N ranked label errors at most
    min_score: Optional[float] = None     # only those with score >= this

    def __post_init__(self):
        if self.max_exclude is not None and self.max_exclude < 0:
            raise ConfigError(f"--max_exclude {self.max_exclude}: pass 0 or more label errors to exclude.")
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise ConfigError(f"--exclude_min_score {self.min_score}: pass a score in [0, 1] (see "
                              f"summary.txt for the scores of the ranked label errors).")

    @property
    def chosen(self) -> bool:
        return self.max_exclude is not None or self.min_score is not None


def choose(ranked: Sequence, choice: ExcludeChoice) -> list:
    """The label errors to exclude: those of `ranked` (in rank order) with score >= min_score, then
    the first max_exclude of them."""
    if not choice.chosen:
        return []
    picked = [e for e in ranked if choice.min_score is None or e.score >= choice.min_score]
    return picked if choice.max_exclude is None else picked[:choice.max_exclude]


def class_shares(indices: Sequence[int], records) -> str:
    """'angel 3 (0.6%), apple 1 (0.2%)': per class, how many of `indices` and their share of it."""
    sizes = Counter(r.label for r in records)
    going = Counter(records[i].label for i in indices)
    return ", ".join(f"{label} {n} ({n / sizes[label]:.1%})" for label, n in
                     sorted(going.items(), key=lambda item: (-item[1] / sizes[item[0]], item[0])))


def closing_line(path: str, indices: Sequence[int], chosen: Sequence, ranked_count: int,
                 choice: ExcludeChoice, records, with_outliers: bool = False) -> str:
    """What --exclude_list holds: how many, why, and what share of each class would go."""
    copies = len(indices) - len({e.index for e in chosen} & set(indices))
    if choice.chosen:
        how = " and ".join(part for part in (
            f"the top {choice.max_exclude}" if choice.max_exclude is not None else "",
            f"score >= {choice.min_score}" if choice.min_score is not None else "") if part)
        label_part = f"{len(chosen)} of {ranked_count} ranked label errors ({how})"
    else:
        label_part = (f"no label errors (none chosen: review label_error.png, then pass --max_exclude N "
                      f"or --exclude_min_score S to list the top-ranked of the {ranked_count})")
    others = "duplicate copies, leaks and outliers" if with_outliers else "duplicate copies and leaks"
    line = f"Wrote {len(indices)} names to {path}: {copies} {others}, {label_part}."
    if indices:
        line += f" Per class: {class_shares(indices, records)}."
    return line + f" Use: qdretrain ... --exclude_list {path}"
