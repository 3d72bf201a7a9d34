"""Data-input faults (issue 8): hostile class names, symlink loops, non-finite coordinates, image bombs,
files in unknown formats. Each test failed before its fix."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convert import preview, sources
from convert.cli import convert_command
from convert.pipeline import ConvertConfig, convert
from retrain.data import dataset
from common.errors import DatasetError, QdretrainError
from tests.conftest import make_image_folder
from tests.test_convert_helpers import bitmap_rows, write_ndjson, write_npy


def _all_files(root: Path) -> set[Path]:
    return {p.resolve() for p in root.rglob("*") if p.is_file()}


# --- 1. class names that would write outside --output_dir ------------------------------------------

@pytest.mark.parametrize("name", ["full_numpy_bitmap_...npy", "...npy"])
def test_convert_never_writes_outside_output_dir(tmp_path, name):
    inputs = tmp_path / "in"
    write_npy(inputs / name, bitmap_rows(3))
    write_npy(inputs / "cat.npy", bitmap_rows(3))
    out = tmp_path / "work" / "out"
    # Named explicitly, so even a dot-file name is read (a folder scan skips dot-files as hidden).
    summary = convert([inputs / name, inputs / "cat.npy"], ConvertConfig(output_dir=out, per_class=3), progress=False)
    outside = {p for p in _all_files(tmp_path) if not str(p).startswith(str(out.resolve()))
               and not str(p).startswith(str(inputs.resolve()))}
    assert outside == set()
    assert [r.label for r in summary.classes] == ["cat"]
    refused = {path.name: reason for path, reason in summary.refused_files}
    assert "'..'" in refused[name]


@pytest.mark.parametrize("label, ok", [("cat", True), ("sea turtle", True), ("..", False), (".", False),
                                       ("", False), ("  ", False), ("a/b", False), ("a\\b", False),
                                       ("a\0b", False), ("a\nb", False)])
def test_label_problem(label, ok):
    assert (sources.label_problem(label) is None) == ok


def test_too_long_class_name_is_refused_alone_with_one_warning(tmp_path):
    inputs = tmp_path / "in"
    long_label = "x" * 240  # the .npy name fits in 255 bytes, its JPG names do not
    write_npy(inputs / f"{long_label}.npy", bitmap_rows(2))
    write_npy(inputs / "cat.npy", bitmap_rows(2))
    result = CliRunner().invoke(convert_command, [str(inputs), "--output_dir", str(tmp_path / "out"),
                                                  "--per_class", "2", "--workers", "1"])
    assert result.exit_code == 0, result.output
    warning_lines = [line for line in result.output.splitlines() if long_label in line]
    assert len(warning_lines) == 1 and "bytes" in warning_lines[0]
    assert len(list((tmp_path / "out" / "cat").glob("*.jpg"))) == 2


def test_hidden_quickdraw_files_are_reported(tmp_path):
    write_npy(tmp_path / "..%2f..%2fetc.npy", bitmap_rows(2))
    write_npy(tmp_path / ".hidden.npy", bitmap_rows(2))
    write_npy(tmp_path / "cat.npy", bitmap_rows(2))
    found = sources.discover_sources([tmp_path])
    assert [s.label for s in found.sources] == ["cat"]
    assert {p.name for p, reason in found.refused if "hidden" in reason} == {"..%2f..%2fetc.npy",
                                                                             ".hidden.npy"}


def test_quickdraw_scan_and_preview_refuse_bad_class_names(tmp_path):
    write_npy(tmp_path / "full_numpy_bitmap_...npy", bitmap_rows(3))
    write_npy(tmp_path / "cat.npy", bitmap_rows(25))
    write_npy(tmp_path / "dog.npy", bitmap_rows(25))
    # Training refuses it up front (issue 17, items 9-10: one class-name rule, and leaving a class out
    # silently would change the model's classes); preview, a look at the data, skips it with a word.
    with pytest.raises(DatasetError, match="'..'"):
        dataset.scan_quickdraw_dir(str(tmp_path), per_class=25)
    classes, messages = preview.collect([tmp_path], 2, 2, 0, "black_on_white")
    assert [c.label for c in classes] == ["cat", "dog"]
    assert any("'..'" in m for m in messages)


# --- 2. symlink loops in the image scan ------------------------------------------------------------

def test_symlink_loop_does_not_count_images_twice(tmp_path):
    root = make_image_folder(tmp_path / "images", {"cat": 3, "dog": 3})
    os.symlink("..", root / "cat" / "loop")
    with pytest.warns(dataset.DatasetWarning, match="loop"):
        index = dataset.scan_image_dir(str(root))
    assert index.counts() == {"cat": 3, "dog": 3}
    real = [os.path.realpath(r.source) for r in index.records]
    assert len(real) == len(set(real))


def test_link_into_another_label_and_hard_links_are_counted_once(tmp_path):
    root = make_image_folder(tmp_path / "images", {"cat": 3, "dog": 3})
    os.symlink(root / "dog", root / "cat" / "dogs")
    os.link(root / "dog" / "img_0000.jpg", root / "dog" / "copy.jpg")
    with pytest.warns(dataset.DatasetWarning, match="more than once"):
        index = dataset.scan_image_dir(str(root))
    assert index.counts() == {"cat": 3, "dog": 3}
    reasons = dict(index.skipped)
    assert "another label" in reasons[str(root / "cat" / "dogs")]
    # The first name in sorted order is kept; the other name of the same file is listed.
    assert "same file as" in reasons[str(root / "dog" / "img_0000.jpg")]


def test_symlinked_label_folder_is_scanned_once(tmp_path):
    root = make_image_folder(tmp_path / "images", {"cat": 3, "dog": 3, "fish": 3})
    os.symlink(root / "cat", root / "kitty")
    with pytest.warns(dataset.DatasetWarning):
        index = dataset.scan_image_dir(str(root))
    assert index.counts() == {"cat": 3, "dog": 3, "fish": 3}


# --- 3. non-finite coordinates ----------------------------------------------------------------------

BAD_LINES = ('{"key_id": "9001", "drawing": [[[1e309, 5], [1, 2]]]}',
             '{"key_id": "9002", "drawing": [[[Infinity, 5], [1, 2]]]}',
             '{"key_id": "9003", "drawing": [[[NaN, 5], [1, 2]]]}',
             '{"key_id": "9004", "drawing": [[[5e6, 5], [1, 2]]]}')


@pytest.mark.parametrize("line", BAD_LINES)
def test_non_finite_coordinates_are_malformed(line):
    with pytest.raises(ValueError):
        sources.parse_drawing(line.encode(), 1)


def test_non_finite_lines_are_skipped_by_convert_training_scan_and_preview(tmp_path):
    folder = tmp_path / "in"
    write_ndjson(folder / "cat.ndjson", 22, extra_lines=BAD_LINES)
    write_ndjson(folder / "dog.ndjson", 22)
    summary = convert([folder], ConvertConfig(output_dir=tmp_path / "out", per_class=0), progress=False)
    cat = next(r for r in summary.classes if r.label == "cat")
    assert (cat.written, cat.refused) == (22, 4)
    index = dataset.scan_quickdraw_dir(str(folder), per_class=100)
    assert index.counts() == {"cat": 22, "dog": 22}
    assert any("4 malformed" in reason for _, reason in index.skipped)
    classes, _ = preview.collect([folder], 2, 30, 0, "black_on_white")
    assert [c.label for c in classes] == ["cat", "dog"]


# --- 4. image bombs ---------------------------------------------------------------------------------

def _bomb(path: Path, side: int = 4000) -> Path:
    Image.new("L", (side, side), 255).save(path)  # a few KB of PNG, `side`**2 pixels decoded
    return path


def test_image_above_pixel_limit_is_skipped_from_its_header(tmp_path, monkeypatch):
    root = make_image_folder(tmp_path / "images", {"cat": 2, "dog": 2})
    _bomb(root / "cat" / "bomb.png")
    monkeypatch.setenv(dataset.MAX_IMAGE_PIXELS_ENV, "1000000")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dataset.DatasetWarning)
        index = dataset.scan_image_dir(str(root))
    assert "too large: 4000x4000" in dict(index.skipped)[str(root / "cat" / "bomb.png")]
    assert index.counts() == {"cat": 2, "dog": 2}


def test_pixel_limit_default_and_bad_value(monkeypatch):
    monkeypatch.delenv(dataset.MAX_IMAGE_PIXELS_ENV, raising=False)
    assert dataset.max_image_pixels() == dataset.DEFAULT_MAX_IMAGE_PIXELS
    assert dataset.max_image_pixels({dataset.MAX_IMAGE_PIXELS_ENV: "2_000"}) == 2000
    with pytest.raises(DatasetError, match="positive"):
        dataset.max_image_pixels({dataset.MAX_IMAGE_PIXELS_ENV: "lots"})


def test_label_image_loader_refuses_a_bomb_before_decoding(tmp_path, monkeypatch):
    from retrain.evaluation.test_images import load_pixels
    path = _bomb(tmp_path / "bomb.png")
    monkeypatch.setenv(dataset.MAX_IMAGE_PIXELS_ENV, "1000000")
    with pytest.raises(QdretrainError, match="too large"):
        load_pixels(str(path), 32, 32)


# --- 5. files in no known format ----------------------------------------------------------------------

KAGGLE_HEADER = "countrycode,drawing,key_id,recognized,timestamp,word\n"


def _kaggle_row(key: int, word: str, xs=(0, 120, 250), ys=(10, 200, 30), recognized="True") -> str:
    drawing = json.dumps([[list(xs), list(ys)]]).replace('"', '""')
    return f'US,"{drawing}",{key},{recognized},2017-03-01 00:00:00.0,{word}\n'


def test_unknown_files_are_summarised(tmp_path):
    folder = tmp_path / "in"
    write_npy(folder / "cat.npy", bitmap_rows(2))
    (folder / "cat.bin").write_bytes(b"x")
    (folder / "dog.bin").write_bytes(b"x")
    (folder / "notes.txt").write_text("x\n")
    result = CliRunner().invoke(convert_command, [str(folder), "--output_dir", str(tmp_path / "out"),
                                                  "--per_class", "2", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "skipped 3 files not in a known format (.bin x2, .txt x1" in result.output


def test_kaggle_csv_converts_previews_and_trains_like_ndjson(tmp_path):
    # Kaggle's train_simplified/<word>.csv: a quoted JSON drawing per row (issue 10).
    folder = tmp_path / "train_simplified"
    folder.mkdir()
    rows = [_kaggle_row(100 + i, "sea turtle", xs=(0, 10 * i + 20, 250)) for i in range(24)]
    rows.insert(3, 'US,"[[[0,1],[0]]]",999,True,2017,sea turtle\n')         # xs and ys differ in length
    rows.insert(5, 'US,"[[[0,1e309],[0,5]]]",998,True,2017,sea turtle\n')  # not finite
    (folder / "sea turtle.csv").write_text(KAGGLE_HEADER + "".join(rows))
    (folder / "cat.csv").write_text(KAGGLE_HEADER + "".join(_kaggle_row(200 + i, "cat") for i in range(24)))
    out = tmp_path / "out"
    result = CliRunner().invoke(convert_command, [str(folder), "--output_dir", str(out), "--per_class", "0",
                                                  "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert len(os.listdir(out / "sea turtle")) == 24 and len(os.listdir(out / "cat")) == 24
    assert "skipped 2 malformed line(s)" in result.output
    classes, _ = preview.collect([folder], 2, 2, 0, "black_on_white")
    assert [c.label for c in classes] == ["cat", "sea turtle"] and classes[1].total == 26
    index = dataset.scan_quickdraw_dir(str(folder), per_class=20)
    assert sorted(index.labels) == ["cat", "sea turtle"] and len(index.records) == 40


def test_a_csv_without_a_drawing_column_is_refused_with_the_expected_header(tmp_path):
    from convert.sources import SourceError, csv_columns
    (tmp_path / "cat.csv").write_text("x\n")
    with pytest.raises(SourceError, match="countrycode,drawing,key_id"):
        csv_columns(tmp_path / "cat.csv")


def test_unknown_files_beside_quickdraw_files_warn_in_training_scan(tmp_path):
    write_npy(tmp_path / "cat.npy", bitmap_rows(25))
    write_npy(tmp_path / "dog.npy", bitmap_rows(25))
    (tmp_path / "fish.bin").write_bytes(b"x")
    with pytest.warns(dataset.DatasetWarning, match=r"\.bin x1"):
        dataset.scan_quickdraw_dir(str(tmp_path), per_class=25)


def test_class_folder_linking_outside_output_dir_is_refused(tmp_path):
    write_npy(tmp_path / "in" / "cat.npy", bitmap_rows(2))
    write_npy(tmp_path / "in" / "dog.npy", bitmap_rows(2))
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "cat")
    summary = convert([tmp_path / "in"], ConvertConfig(output_dir=out, per_class=2), progress=False)
    assert [r.label for r in summary.classes] == ["dog"]
    assert any("outside" in reason for _, reason in summary.refused_files)
    assert list(elsewhere.iterdir()) == []


def test_documentation_beside_the_data_is_not_reported_as_unknown(tmp_path):
    # The embedded sample holds ATTRIBUTION.md: `convert --sample` must not warn about its own files.
    from convert.sources import discover_sources
    np.save(tmp_path / "cat.npy", np.zeros((2, 784), np.uint8))
    (tmp_path / "ATTRIBUTION.md").write_text("CC BY 4.0")
    (tmp_path / "LICENSE").write_text("licence")
    (tmp_path / "notes.txt").write_text("x")
    assert discover_sources([tmp_path]).unknown == ((".txt", 1),)
