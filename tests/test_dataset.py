"""Scanning image folders: labels, formats, unusable files, class-count checks (no TensorFlow)."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from retrain.data.dataset import DatasetWarning, ImageIndex, check_image_file, scan_image_dir
from common.errors import DatasetError
from tests.conftest import make_image_folder


def _save(path, fmt, color=(200, 30, 30), size=(24, 18), mode="RGB", **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode == "RGB" else color[0]).save(path, fmt, **kwargs)
    return path


def _jpeg_bytes(size=(64, 64)) -> bytes:
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _scan_quietly(root) -> ImageIndex:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        return scan_image_dir(str(root))


def test_labels_are_sorted_folder_names_and_relpaths_are_relative(image_folder):
    index = _scan_quietly(image_folder)
    assert index.labels == ("apple", "cat", "sea turtle")
    assert len(index.records) == 60 and not index.skipped
    for record in index.records:
        assert index.labels[record.label_index] == record.label
        assert record.relpath == f"{record.label}/{os.path.basename(record.source)}"
        assert os.path.isabs(record.source) and os.path.exists(record.source)
        assert record.row is None
    assert index.counts() == {"apple": 20, "cat": 20, "sea turtle": 20}
    # One ordering everywhere: records grouped by label in label order.
    assert [r.label_index for r in index.records] == sorted(r.label_index for r in index.records)


def test_all_four_formats_and_nested_folders_are_found(tmp_path):
    root = tmp_path / "data"
    _save(root / "a" / "one.jpg", "JPEG")
    _save(root / "a" / "two.JPEG", "JPEG")
    _save(root / "a" / "deeper" / "three.png", "PNG")
    _save(root / "b" / "four.bmp", "BMP")
    _save(root / "b" / "five.gif", "GIF")
    _save(root / "b" / "gray.png", "PNG", mode="L")
    index = _scan_quietly(root)
    assert not index.skipped
    assert sorted(r.relpath for r in index.records) == [
        "a/deeper/three.png", "a/one.jpg", "a/two.JPEG", "b/five.gif", "b/four.bmp", "b/gray.png"]


def test_unusable_files_are_skipped_and_listed_with_reasons(tmp_path):
    root = make_image_folder(tmp_path / "data", {"cat": 3, "dog": 3})
    (root / "cat" / "truncated.jpg").write_bytes(_jpeg_bytes()[:700])
    webp = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(webp, "WEBP")
    (root / "cat" / "really_webp.jpg").write_bytes(webp.getvalue())
    (root / "dog" / "empty.jpg").write_bytes(b"")
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "dog" / "text.png").write_text("not an image either")
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(png, "PNG")
    (root / "dog" / "cut.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    (root / "stray.jpg").write_bytes(_jpeg_bytes())
    (root / ".hidden").mkdir()
    (root / "cat" / ".DS_Store").write_bytes(b"\0\0")

    index = _scan_quietly(root)
    assert len(index.records) == 6  # the good ones only
    reasons = {os.path.relpath(path, root): reason for path, reason in index.skipped}
    assert set(reasons) == {"cat/truncated.jpg", "cat/really_webp.jpg", "dog/empty.jpg", "dog/notes.txt",
                            "dog/text.png", "dog/cut.png", "stray.jpg"}
    assert "truncated" in reasons["cat/truncated.jpg"]
    assert "WEBP" in reasons["cat/really_webp.jpg"]
    assert reasons["dog/empty.jpg"] == "empty file"
    assert "not an image" in reasons["dog/text.png"]
    assert "truncated" in reasons["dog/cut.png"]


def test_jpeg_with_bytes_after_its_end_marker_is_still_accepted(tmp_path):
    path = tmp_path / "padded.jpg"
    path.write_bytes(_jpeg_bytes() + b"camera trailer")  # some cameras append data after FFD9
    assert check_image_file(str(path)) is None


def test_fewer_than_two_classes_is_a_clear_error(tmp_path):
    make_image_folder(tmp_path / "one", {"cat": 5})
    with pytest.raises(DatasetError, match="at least 2 classes"):
        _scan_quietly(tmp_path / "one")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="found none"):
        _scan_quietly(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        scan_image_dir(str(tmp_path / "missing"))


def test_a_class_with_only_broken_files_is_dropped_and_counted_against_the_minimum(tmp_path):
    root = make_image_folder(tmp_path / "data", {"cat": 3})
    (root / "dog").mkdir()
    (root / "dog" / "empty.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="only 'cat'.*skipped"):
        _scan_quietly(root)
    make_image_folder(root, {"eel": 2})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DatasetWarning)
        index = scan_image_dir(str(root))
    assert index.labels == ("cat", "eel")
    assert any("'dog'" in str(w.message) and "left out" in str(w.message) for w in caught)


def test_tiny_classes_warn_but_scan(tmp_path):
    root = make_image_folder(tmp_path / "data", {"big": 25, "small": 4})
    with pytest.warns(DatasetWarning, match=r"'small' \(4\)"):
        index = scan_image_dir(str(root))
    assert index.counts() == {"big": 25, "small": 4}
    root2 = make_image_folder(tmp_path / "data2", {"a": 20, "b": 20})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)  # no warning for classes of 20+
        scan_image_dir(str(root2))
