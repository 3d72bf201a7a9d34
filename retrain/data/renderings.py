"""Several renderings per training drawing, so the model learns the drawing and not one way to draw it.

`--renderings K` (default 3, see DEFAULT_RENDERINGS): every training drawing appears K times, rendering
0 (the canonical one, the drawing contract's) plus K-1 random renderings (convert/drawing_augment.py),
each with its own cached bottleneck keyed by content + rendering index + augmentation version + seed, so
a rerun reuses them. Validation and test keep the canonical rendering only (evaluation's panel,
retrain/evaluation/panel.py, measures the others). `--renderings 1` is the old behaviour.

Which data counts as drawings: `--quickdraw_dir` always; an `--image_dir` only when it looks like
drawings (sampled images grayscale and mostly white paper, as `qdretrain convert` writes them). Photos
get no rendering augmentation: stroke width, binarisation or "ink" filters mean nothing for them and
would only cost cache space (use --fine_tune's image augmentation for photos).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

# 3 renderings: the trial measured most of the gain with 3; the head stays seconds to train and
# the cache grows 3x for the training split only.
DEFAULT_RENDERINGS = 3
_SAMPLE = 24           # images looked at to decide whether a folder holds drawings
_WHITE_FRACTION = 0.5  # drawings are mostly paper: at least this share of pixels near white


def looks_like_drawings(records: Sequence) -> bool:
    """True when the records are QuickDraw rows, or sampled image files are grayscale mostly-white drawings.

    Args:
      records: the dataset's records.

    Returns:
      Whether to apply rendering augmentation.
    """
    from PIL import Image
    if not records:
        return False
    if all(r.row is not None for r in records):
        return True
    files = [r for r in records if r.row is None]
    picked = [files[i] for i in np.linspace(0, len(files) - 1, min(_SAMPLE, len(files))).astype(int)]
    votes = 0
    for record in picked:
        try:
            with Image.open(record.source) as image:
                rgb = np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.int16)
        except Exception:  # unreadable files are the scan's business, not a vote
            continue
        gray = np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 12 and np.abs(rgb[..., 1] - rgb[..., 2]).max() <= 12
        white = (rgb.min(axis=-1) >= 200).mean() >= _WHITE_FRACTION
        votes += bool(gray and white)
    return votes >= 0.8 * len(picked)


def expand_training(splits: dict, renderings: int, seed: int, drawings: bool) -> dict:
    """The splits with K renderings of each training record (validation and test unchanged).

    Args:
      splits: {"training": [...], "validation": [...], "testing": [...]}.
      renderings: K >= 1.
      seed: the run's seed (seeds the random renderings with each drawing's content).
      drawings: whether the data are drawings (`looks_like_drawings`); photos are never expanded.

    Returns:
      A new dict; training records k > 0 are copies with `rendering=k`.
    """
    if renderings <= 1 or not drawings:
        return splits
    training = list(splits["training"]) + [dataclasses.replace(r, rendering=k, augment_seed=seed)
                                           for k in range(1, renderings) for r in splits["training"]]
    return {**splits, "training": training}
