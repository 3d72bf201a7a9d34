"""The stable hash split: independent of the folder's location, of other files, and of listing order."""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import warnings

import pytest

from retrain.data.dataset import DatasetWarning, ImageRecord, scan_image_dir
from retrain.data.split import SETS, split_records, which_set
from tests.conftest import make_image_folder


def _records(names: list[str]) -> list[ImageRecord]:
    return [ImageRecord(label=n.split("/")[0], label_index=0, relpath=n, source="/x/" + n) for n in names]


def _scan(root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        return scan_image_dir(str(root))


def _by_relpath(splits) -> dict[str, str]:
    return {r.relpath: name for name, records in splits.items() for r in records}


def test_moving_the_folder_does_not_change_the_split(tmp_path):
    first = make_image_folder(tmp_path / "a" / "images", {"cat": 30, "dog": 30})
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.copytree(first, moved)
    before = _by_relpath(split_records(_scan(first).records, 20, 20))
    after = _by_relpath(split_records(_scan(moved).records, 20, 20))
    assert before == after
    assert set(before.values()) == set(SETS)  # all three sets used, so the comparison means something


def test_adding_images_never_moves_existing_ones():
    names = [f"cat/img_{i}.jpg" for i in range(300)]
    before = _by_relpath(split_records(_records(names), 10, 10))
    grown = names + [f"cat/new_{i}.jpg" for i in range(300)] + [f"dog/img_{i}.jpg" for i in range(50)]
    after = _by_relpath(split_records(_records(grown), 10, 10))
    assert all(after[name] == where for name, where in before.items())


def test_nohash_groups_stay_together():
    names = [f"faces/person{p}_nohash_{k}.jpg" for p in range(200) for k in range(4)]
    where = _by_relpath(split_records(_records(names), 25, 25))
    for p in range(200):
        assert len({where[f"faces/person{p}_nohash_{k}.jpg"] for k in range(4)}) == 1
    assert set(where.values()) == set(SETS)


def test_percentages_are_roughly_respected():
    names = [f"c/img_{i:05d}.jpg" for i in range(20000)]
    splits = split_records(_records(names), testing_percentage=15, validation_percentage=5)
    share = {name: len(records) / len(names) for name, records in splits.items()}
    assert share["testing"] == pytest.approx(0.15, abs=0.015)
    assert share["validation"] == pytest.approx(0.05, abs=0.01)
    assert share["training"] == pytest.approx(0.80, abs=0.015)
    none = split_records(_records(names[:100]), 0, 0)
    assert len(none["training"]) == 100


def test_same_name_in_two_classes_is_hashed_independently():
    # retrain.py hashed the base name, so every class's img_0001.jpg went to the same set; the
    # relative path gives each its own draw.
    sets = {which_set(f"class{c}/img_0001.jpg", 30, 30) for c in range(40)}
    assert len(sets) == 3


def test_matches_retrain_py_for_plain_names():
    # retrain.py's code (tensorflow/hub examples/image_retraining/retrain.py), applied to a name.
    def retrain_py(file_name, testing_percentage, validation_percentage):
        hash_name = re.sub(r"_nohash_.*$", "", file_name)
        hashed = hashlib.sha1(hash_name.encode()).hexdigest()
        percentage = ((int(hashed, 16) % ((2 ** 27 - 1) + 1)) * (100.0 / (2 ** 27 - 1)))
        if percentage < validation_percentage:
            return "validation"
        if percentage < testing_percentage + validation_percentage:
            return "testing"
        return "training"

    for i in range(500):
        name = f"label/photo_{i}_nohash_{i % 3}.jpg" if i % 2 else f"label/photo_{i}.jpg"
        assert which_set(name, 10, 10) == retrain_py(name, 10, 10)


def test_order_is_deterministic_whatever_the_input_order():
    names = [f"{label}/img_{i}.jpg" for label in ("b", "a") for i in range(50)]
    records = [ImageRecord(label=n[0], label_index=0 if n[0] == "a" else 1, relpath=n, source=n)
               for n in names]
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    assert split_records(records, 10, 10) == split_records(shuffled, 10, 10)
    for subset in split_records(records, 10, 10).values():
        assert subset == sorted(subset, key=lambda r: (r.label_index, r.relpath))


def test_bad_percentages_are_rejected():
    with pytest.raises(ValueError):
        split_records([], 60, 40)
    with pytest.raises(ValueError):
        split_records([], -1, 10)
