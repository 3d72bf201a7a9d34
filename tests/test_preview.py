"""`qdretrain preview`: a PNG grid from a converted JPG folder and straight from .npy/.ndjson."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convert import preview
from convert.cli import convert_command, preview_command
from tests.test_convert_helpers import bitmap_rows, write_ndjson, write_npy


def left_half_rows(count: int) -> np.ndarray:
    """Drawings whose ink is all in the left half, at varying heights."""
    rows = np.zeros((count, 28, 28), np.uint8)
    for i in range(count):
        rows[i, i % 20:i % 20 + 8, 2:12] = 255
    return rows.reshape(count, 784)


def test_preview_of_a_converted_folder(tmp_path):
    write_npy(tmp_path / "in" / "sea turtle.npy", left_half_rows(30))
    write_npy(tmp_path / "in" / "cat.npy", bitmap_rows(30))
    images = tmp_path / "images"
    assert CliRunner().invoke(convert_command, [str(tmp_path / "in"), "--output_dir", str(images),
                                                "--workers", "1"]).exit_code == 0
    output = tmp_path / "look" / "preview.png"
    result = CliRunner().invoke(preview_command, [str(images), "--output", str(output),
                                                  "--per-class", "4"])
    assert result.exit_code == 0, result.output
    assert "2 classes" in result.stdout
    with Image.open(output) as png:
        assert png.format == "PNG" and png.size[0] > 300 and png.size[1] > 100
    assert not list(output.parent.glob(".*.part"))


def test_preview_straight_from_npy_and_ndjson(tmp_path):
    write_npy(tmp_path / "full_numpy_bitmap_cat.npy", bitmap_rows(10))
    write_ndjson(tmp_path / "The Eiffel Tower.ndjson", 5)
    output = tmp_path / "preview.png"
    result = CliRunner().invoke(preview_command, [str(tmp_path / "full_numpy_bitmap_cat.npy"),
                                                  str(tmp_path / "The Eiffel Tower.ndjson"),
                                                  "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert output.stat().st_size > 1000


def test_mean_image_shows_where_the_ink_is_in_either_polarity(tmp_path):
    write_npy(tmp_path / "in" / "left.npy", left_half_rows(40))
    classes, warnings = preview.collect([tmp_path / "in"], samples=3, mean_count=40, seed=0,
                                        polarity="black_on_white")
    (left,) = classes
    assert warnings == [] and left.total == 40 and len(left.samples) == 3
    assert left.mean[:, :20].mean() > 5 * left.mean[:, 40:].mean()
    # Samples are shown in the asked polarity (paper: mostly white), the mean counts ink either way.
    assert left.samples[0].mean() > 128
    for polarity in ("black_on_white", "white_on_black"):
        images = tmp_path / polarity
        CliRunner().invoke(convert_command, [str(tmp_path / "in"), "--output_dir", str(images),
                                             "--polarity", polarity, "--workers", "1"])
        (folder_class,), _ = preview.collect([images], samples=2, mean_count=40, seed=0,
                                             polarity="black_on_white")
        np.testing.assert_allclose(folder_class.mean, left.mean, atol=0.08)


def test_preview_errors_are_clear(tmp_path):
    result = CliRunner().invoke(preview_command, [str(tmp_path / "missing")])
    assert result.exit_code == 1 and "does not exist" in result.output
    write_npy(tmp_path / "bad" / "cat.npy", bitmap_rows(3).astype(np.int16))
    result = CliRunner().invoke(preview_command, [str(tmp_path / "bad"), "--output",
                                                  str(tmp_path / "p.png")])
    assert result.exit_code == 1 and "int16" in result.output and "Traceback" not in result.output
    (tmp_path / "empty").mkdir()
    with pytest.raises(preview.PreviewError, match="neither class folders"):
        preview.collect([tmp_path / "empty"], 2, 2, 0, "black_on_white")


def test_max_classes_reads_only_the_first_classes(tmp_path):
    write_npy(tmp_path / "a.npy", bitmap_rows(5))
    write_ndjson(tmp_path / "b.ndjson", 3)
    (tmp_path / "zz broken.npy").write_bytes(b"not read at all")
    output = tmp_path / "p.png"
    result = CliRunner().invoke(preview_command, [str(tmp_path), "--max-classes", "2",
                                                  "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "first 2 of 3 classes" in result.stderr and "broken" not in result.output
    assert "(2 classes)" in result.stdout
    everything = CliRunner().invoke(preview_command, [str(tmp_path), "--output", str(output)])
    assert everything.exit_code == 0 and "zz broken.npy" in everything.stderr
