"""--quickdraw_dir: QuickDraw .npy/.ndjson files indexed and rendered directly, like `convert` does."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from convert.render import RenderOptions, render_bitmap, render_strokes
from retrain.data import quickdraw_source
from retrain.data.dataset import DatasetWarning, scan_quickdraw_dir
from common.errors import DatasetError
from tests.conftest import shared_path


def _write_npy(path, count, seed=0):
    rng = np.random.default_rng(seed)
    bitmaps = np.zeros((count, 784), np.uint8)
    for i in range(count):
        bitmaps[i, rng.integers(0, 784, 60)] = 255  # ink
    np.save(path, bitmaps)
    return bitmaps


def _write_ndjson(path, count, bad_lines=()):
    lines = []
    for i in range(count):
        if i in bad_lines:
            lines.append("{not json")
            continue
        xs = [10 + i, 120, 240 - i]
        ys = [20, 200 - i, 30 + i]
        lines.append(json.dumps({"word": "x", "key_id": str(1000 + i), "recognized": True,
                                 "drawing": [[xs, ys], [[50, 60], [50, 60]]]}))
    path.write_text("\n".join(lines) + "\n")


def _scan(path, per_class, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        return scan_quickdraw_dir(str(path), per_class, seed)


def test_labels_rows_and_relpaths(tmp_path):
    _write_npy(tmp_path / "sea turtle.npy", 40)
    _write_ndjson(tmp_path / "cat.ndjson", 30)
    index = _scan(tmp_path, per_class=25)
    assert index.labels == ("cat", "sea turtle")
    assert index.counts() == {"cat": 25, "sea turtle": 25}
    for record in index.records:
        assert record.source.endswith(".npy" if record.label == "sea turtle" else ".ndjson")
        suffix = record.source.rsplit(".", 1)[1]
        assert record.relpath == f"{record.label}/{record.label}.{suffix}#{record.row}"
    rows = [r.row for r in index.records if r.label == "cat"]
    assert rows == sorted(rows) and len(set(rows)) == 25


def test_picks_are_seeded_and_grow_as_a_superset(tmp_path):
    _write_npy(tmp_path / "a.npy", 200)
    _write_npy(tmp_path / "b.npy", 200, seed=1)
    small = {r.relpath for r in _scan(tmp_path, per_class=20).records}
    large = {r.relpath for r in _scan(tmp_path, per_class=60).records}
    other_seed = {r.relpath for r in _scan(tmp_path, per_class=20, seed=5).records}
    assert small < large
    assert small != other_seed
    assert small == {r.relpath for r in _scan(tmp_path, per_class=20).records}


def test_rendering_is_converts_default_black_on_white(tmp_path):
    bitmaps = _write_npy(tmp_path / "a.npy", 5)
    _write_ndjson(tmp_path / "b.ndjson", 5)
    index = _scan(tmp_path, per_class=5)
    for record in index.records:
        drawing = quickdraw_source.read_drawings(record.source, [record.row])[record.row]
        pixels = quickdraw_source.render(drawing)
        assert pixels.dtype == np.uint8 and pixels.shape == (64, 64, 3)
        expected = (render_bitmap(bitmaps[record.row], RenderOptions()) if record.label == "a"
                    else render_strokes(drawing, RenderOptions()))
        np.testing.assert_array_equal(pixels[:, :, 0], np.asarray(expected))
        assert (pixels[..., 0] == pixels[..., 2]).all()
        # Paper-like: mostly white background, some dark ink.
        assert np.median(pixels) == 255 and pixels.min() < 64


def test_broken_inputs_are_listed_not_fatal(tmp_path):
    _write_npy(tmp_path / "good.npy", 10)
    _write_ndjson(tmp_path / "lines.ndjson", 10, bad_lines={3})
    (tmp_path / "truncated.npy").write_bytes(np.lib.format.magic(1, 0) + b"garbage")
    index = _scan(tmp_path, per_class=100)
    assert index.labels == ("good", "lines")
    assert index.counts() == {"good": 10, "lines": 9}
    reasons = dict(index.skipped)
    assert any(path.endswith("truncated.npy") for path in reasons)
    assert any("malformed" in reason for reason in reasons.values())


def test_fewer_than_two_classes_or_no_files_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="No .npy or .ndjson"):
        _scan(tmp_path, 10)
    _write_npy(tmp_path / "only.npy", 10)
    with pytest.raises(DatasetError, match="at least 2 classes"):
        _scan(tmp_path, 10)
    with pytest.raises(DatasetError):
        _scan(tmp_path / "missing", 10)


def test_content_bytes_tell_drawings_apart(tmp_path):
    bitmaps = _write_npy(tmp_path / "a.npy", 3)
    keys = {quickdraw_source.content_bytes(bitmaps[i]) for i in range(3)}
    assert len(keys) == 3
    strokes = (((1, 2), (3, 4)),)
    assert quickdraw_source.content_bytes(strokes) != quickdraw_source.content_bytes((((1, 2), (3, 5)),))


@pytest.mark.slow
def test_real_quickdraw_files_scan():
    bitmaps = shared_path("data", "quickdraw_bitmaps")
    index = _scan(bitmaps, per_class=30)
    assert len(index.labels) == 13 and "sea turtle" in index.labels
    assert index.counts()["sea turtle"] == 30 and not index.skipped
    ndjson = _scan(shared_path("data", "quickdraw_ndjson"), per_class=3)
    assert len(ndjson.labels) == 344 and len(ndjson.records) == 344 * 3
