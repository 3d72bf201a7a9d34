"""convert.sources: class names, discovery, safe memory-mapped .npy reading, seeded selection, ndjson."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from convert import sources
from convert.sources import SourceError
from tests.test_convert_helpers import bitmap_rows, drawing_line, square_strokes, write_ndjson, write_npy


@pytest.mark.parametrize("name, label", [
    ("cat.npy", "cat"),
    ("full_numpy_bitmap_cat.npy", "cat"),
    ("full_numpy_bitmap_sea turtle.npy", "sea turtle"),
    ("sea turtle.npy", "sea turtle"),
    ("full_simplified_The Eiffel Tower.ndjson", "The Eiffel Tower"),
    ("The Eiffel Tower.ndjson", "The Eiffel Tower"),
    ("full_raw_flip flops.ndjson", "flip flops"),
])
def test_class_name_keeps_real_spelling_and_strips_download_prefixes(name, label):
    assert sources.class_name(f"/some/dir/{name}") == label


@pytest.mark.parametrize("shape", [(5, 784), (5, 28, 28), (5, 1, 784)])
def test_open_bitmaps_accepts_the_three_layouts_as_memmap(tmp_path, shape):
    rows = bitmap_rows(5)
    path = write_npy(tmp_path / "cat.npy", rows.reshape(shape))
    bitmaps = sources.open_bitmaps(path)
    assert isinstance(bitmaps, np.memmap)
    assert bitmaps.shape == (5, 784)
    np.testing.assert_array_equal(np.asarray(bitmaps), rows)


def test_open_bitmaps_reads_fortran_order(tmp_path):
    rows = bitmap_rows(6)
    path = write_npy(tmp_path / "cat.npy", np.asfortranarray(rows))
    np.testing.assert_array_equal(np.asarray(sources.open_bitmaps(path)[[1, 4]]), rows[[1, 4]])


def _refusal(path) -> str:
    with pytest.raises(SourceError) as caught:
        sources.open_bitmaps(path)
    return str(caught.value)


def test_open_bitmaps_refuses_wrong_dtype(tmp_path):
    message = _refusal(write_npy(tmp_path / "cat.npy", bitmap_rows(3).astype(np.float32)))
    assert "float32" in message and "uint8" in message


@pytest.mark.parametrize("shape", [(3, 783), (3, 28, 27), (784,), (3, 2, 392)])
def test_open_bitmaps_refuses_wrong_shape(tmp_path, shape):
    array = np.zeros(shape, dtype=np.uint8)
    message = _refusal(write_npy(tmp_path / "cat.npy", array))
    assert str(tuple(shape)) in message and "(N, 784)" in message


def test_open_bitmaps_refuses_truncated_file(tmp_path):
    path = write_npy(tmp_path / "cat.npy", bitmap_rows(10))
    path.write_bytes(path.read_bytes()[:-1000])
    message = _refusal(path)
    assert "truncated" in message and "10 drawings" in message


def test_open_bitmaps_refuses_empty_file_and_zero_rows(tmp_path):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    assert "empty" in _refusal(empty)
    assert "no drawings" in _refusal(write_npy(tmp_path / "none.npy", np.zeros((0, 784), np.uint8)))


def test_open_bitmaps_never_unpickles(tmp_path, monkeypatch):
    objects = np.empty(2, dtype=object)
    objects[:] = [np.zeros(784, np.uint8), np.zeros(784, np.uint8)]
    path = tmp_path / "cat.npy"
    np.save(path, objects, allow_pickle=True)
    # Any unpickling during the check would go through pickle.load(s); make that fail loudly.
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    assert "pickled" in _refusal(path)


def test_open_bitmaps_refuses_a_plain_pickle_named_npy(tmp_path):
    path = tmp_path / "cat.npy"
    path.write_bytes(pickle.dumps(bitmap_rows(2)))
    assert "not a readable .npy" in _refusal(path)


def test_open_bitmaps_reports_unreadable_file(tmp_path):
    link = tmp_path / "cat.npy"
    link.symlink_to(tmp_path / "missing.npy")
    assert "cannot read" in _refusal(link)


def test_discover_sources_sorts_dedups_and_refuses_other_types(tmp_path):
    write_npy(tmp_path / "data" / "full_numpy_bitmap_cat.npy", bitmap_rows(2))
    write_npy(tmp_path / "data" / "sea turtle.npy", bitmap_rows(2))
    write_ndjson(tmp_path / "data" / "The Eiffel Tower.ndjson", 2)
    (tmp_path / "data" / "README.txt").write_text("ignored inside a folder")
    duplicate = write_npy(tmp_path / "cat.npy", bitmap_rows(2))
    other = tmp_path / "cat.bin"
    other.write_bytes(b"x")
    found = sources.discover_sources([tmp_path / "data", duplicate, other])
    assert [(s.label, s.kind) for s in found.sources] == [
        ("The Eiffel Tower", "ndjson"), ("cat", "npy"), ("sea turtle", "npy")]
    refused = {path.name: reason for path, reason in found.refused}
    assert "already comes from" in refused["cat.npy"]
    assert "not a QuickDraw" in refused["cat.bin"]
    with pytest.raises(SourceError, match="does not exist"):
        sources.discover_sources([tmp_path / "nope.npy"])


def test_select_indices_reproducible_distinct_per_class_and_nested():
    first = sources.select_indices(1000, 50, seed=3, label="cat")
    assert np.array_equal(first, sources.select_indices(1000, 50, seed=3, label="cat"))
    assert len(set(first.tolist())) == 50 and np.all(np.diff(first) > 0)
    assert not np.array_equal(first, sources.select_indices(1000, 50, seed=4, label="cat"))
    assert not np.array_equal(first, sources.select_indices(1000, 50, seed=3, label="dog"))
    # Asking for more later only adds drawings.
    assert set(first.tolist()) <= set(sources.select_indices(1000, 80, seed=3, label="cat").tolist())
    assert sources.select_indices(7, 50, 0, "cat").tolist() == list(range(7))
    assert sources.select_indices(7, 0, 0, "cat").tolist() == list(range(7))


def test_select_drawings_skips_malformed_and_duplicate_lines(tmp_path):
    bad = ("{not json", '{"key_id": "9", "drawing": [[[1, 2], [3]]]}', '{"key_id": "8"}',
           '[1, 2]', drawing_line(1000, square_strokes()))  # the last repeats key_id 1000
    path = write_ndjson(tmp_path / "cat.ndjson", 4, extra_lines=bad)
    selection = sources.select_drawings(path, 100, seed=0, label="cat", recognized_only=False)
    assert sorted(line.key_id for line in selection.lines) == ["1000", "1001", "1002", "1003"]
    assert selection.malformed == 4 and selection.duplicates == 1
    assert selection.first_problem.startswith("line ")
    with open(path, "rb") as stream:
        drawing = sources.read_drawing(stream, selection.lines[0])
    assert drawing.strokes[0][0] == tuple(square_strokes()[0][0])


def test_select_drawings_tops_up_past_bad_lines_and_honours_recognized_only(tmp_path):
    path = write_ndjson(tmp_path / "cat.ndjson", 10, extra_lines=("garbage",) * 5, unrecognized=4)
    taken = sources.select_drawings(path, 8, seed=1, label="cat", recognized_only=False)
    assert len(taken.lines) == 8  # malformed lines were replaced by good ones, not just dropped
    recognized = sources.select_drawings(path, 100, seed=1, label="cat", recognized_only=True)
    assert sorted(int(line.key_id) for line in recognized.lines) == list(range(1000, 1006))
    assert recognized.unrecognized == 4


def test_select_drawings_refuses_empty_file(tmp_path):
    path = tmp_path / "cat.ndjson"
    path.write_text("\n\n")
    with pytest.raises(SourceError, match="empty"):
        sources.select_drawings(path, 5, 0, "cat", False)
