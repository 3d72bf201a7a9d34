"""The stable training/validation/testing split, retrain.py's algorithm on relative paths.

Each image's set is decided by a hash of its name alone, never by a random draw or by the other files,
so adding images never moves existing ones between sets (a model's test images stay unseen as the data
grows). retrain.py hashed the file's base name; here the path *relative to the image dir* is hashed,
so moving the whole folder changes nothing while two classes' `img_0001.jpg` still get independent
draws. Anything from `_nohash_` on is ignored, so `dave_nohash_1.jpg` and `dave_nohash_2.jpg` (e.g. two
photos of one object) always land in the same set.
"""

from __future__ import annotations

import hashlib
import unicodedata
import re
from typing import Iterable

from retrain.data.dataset import ImageRecord

# retrain.py's constant: ~134M images per class is the most the hash can spread evenly.
MAX_NUM_IMAGES_PER_CLASS = 2 ** 27 - 1
SETS = ("training", "validation", "testing")
_NOHASH = re.compile(r"_nohash_.*$")


def hash_name(relpath: str) -> str:
    """The part of a relative path the split hashes: "/" separators, NFC Unicode (macOS writes NFD),
    and `_nohash_...` removed from the file name only, as retrain.py did (a folder named
    `x_nohash_y` must not put its whole class in one set)."""
    path = unicodedata.normalize("NFC", relpath.replace("\\", "/"))
    folder, _, name = path.rpartition("/")
    name = _NOHASH.sub("", name)
    return f"{folder}/{name}" if folder else name


def percentage_hash(relpath: str) -> float:
    """Where the name falls in [0, 100], exactly as retrain.py computed it from a name."""
    digest = hashlib.sha1(hash_name(relpath).encode("utf-8")).hexdigest()
    return (int(digest, 16) % (MAX_NUM_IMAGES_PER_CLASS + 1)) * (100.0 / MAX_NUM_IMAGES_PER_CLASS)


def which_set(relpath: str, testing_percentage: float, validation_percentage: float) -> str:
    """"training", "validation" or "testing" for one image (retrain.py's order of the bands)."""
    value = percentage_hash(relpath)
    if value < validation_percentage:
        return "validation"
    if value < testing_percentage + validation_percentage:
        return "testing"
    return "training"


def split_records(records: Iterable[ImageRecord], testing_percentage: float,
                  validation_percentage: float) -> dict[str, list[ImageRecord]]:
    """Splits records into the three sets.

    Args:
      records: the dataset's images.
      testing_percentage: share (0-100) of images for the final test.
      validation_percentage: share (0-100) for validation during training.

    Returns:
      {"training": [...], "validation": [...], "testing": [...]}, each sorted by (label_index, relpath),
      so the order does not depend on how the records were listed.

    Raises:
      ValueError: percentages outside [0, 100) or summing to 100 or more (the CLI checks this first).
    """
    if not (0 <= testing_percentage < 100 and 0 <= validation_percentage < 100
            and testing_percentage + validation_percentage < 100):
        raise ValueError("testing_percentage and validation_percentage must be in [0, 100) with a sum "
                         "below 100, so some images are left for training.")
    result: dict[str, list[ImageRecord]] = {name: [] for name in SETS}
    for record in records:
        result[which_set(record.relpath, testing_percentage, validation_percentage)].append(record)
    for name in SETS:
        result[name].sort(key=lambda r: (r.label_index, r.relpath, r.row if r.row is not None else -1))
    return result


def seeded_indices(count: int, limit: int, seed: int):
    """Sorted indices of `limit` of `count` items, picked by a seeded shuffle; None when `limit` is
    negative or covers them all (keep everything)."""
    import numpy as np
    if limit < 0 or limit >= count:
        return None
    return np.sort(np.random.default_rng(seed).permutation(count)[:limit])


def seeded_subset(records, limit: int, seed: int) -> list:
    """At most `limit` of `records` (seeded_indices), kept in their order (each class in its share of
    the split): --test_batch_size's test images, the temperature's validation sample."""
    records = list(records)
    chosen = seeded_indices(len(records), limit, seed)
    return records if chosen is None else [records[i] for i in chosen]
