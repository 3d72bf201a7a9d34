"""Data edge cases found in review: each once silently mis-trained or crashed."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from retrain.data import dataset, split
from common.errors import DatasetError
from tests.conftest import make_image_folder


def test_nohash_applies_to_the_file_name_not_the_folder():
    # retrain.py stripped `_nohash_...` from the base name; a folder named like it is not a group.
    assert split.hash_name("my_nohash_class/img1.jpg") == "my_nohash_class/img1.jpg"
    assert split.hash_name("cat/bob_nohash_1.jpg") == split.hash_name("cat/bob_nohash_2.jpg") == "cat/bob"


def test_unicode_normalisation_does_not_move_images():
    nfc, nfd = "caf\u00e9/x.jpg", "cafe\u0301/x.jpg"
    assert split.which_set(nfc, 10, 10) == split.which_set(nfd, 10, 10)


def test_palette_bmp_is_skipped_with_advice(tmp_path):
    root = make_image_folder(tmp_path / "images", {"cat": 3, "fish": 3})
    palette = Image.new("P", (20, 20))
    palette.putpalette([255, 0, 0] * 256)
    palette.save(root / "cat" / "palette.bmp")
    Image.new("RGB", (20, 20), (255, 0, 0)).save(root / "cat" / "truecolour.bmp")
    with pytest.warns(dataset.DatasetWarning):
        index = dataset.scan_image_dir(str(root))
    reasons = dict(index.skipped)
    assert "palette" in reasons[str(root / "cat" / "palette.bmp")]
    assert any(r.relpath == "cat/truecolour.bmp" for r in index.records)


def test_symlinked_subfolders_are_followed(tmp_path):
    root = make_image_folder(tmp_path / "images", {"cat": 3, "fish": 3})
    extra = make_image_folder(tmp_path / "extra", {"more": 2}) / "more"
    os.symlink(extra, root / "cat" / "linked")
    os.symlink(root / "cat", root / "cat" / "loop")  # a loop must not hang the scan
    with pytest.warns(dataset.DatasetWarning):
        index = dataset.scan_image_dir(str(root))
    assert sum(r.relpath.startswith("cat/linked/") for r in index.records) == 2


def test_unwritable_bottleneck_dir_is_a_clear_error(tmp_path, standin_module):
    from retrain.families import architectures
    from retrain.families.hub_head import hub_modules
    from retrain.families.hub_head.bottlenecks import BottleneckCache
    spec = architectures.with_overrides(architectures.get("mobilenet_0.25_224"), input_size=32, feature_size=8)
    module = hub_modules.resolve_module(spec, standin_module)
    root = make_image_folder(tmp_path / "images", {"cat": 2, "fish": 2})
    with pytest.warns(dataset.DatasetWarning):
        index = dataset.scan_image_dir(str(root))
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(DatasetError, match="writable folder"):
        BottleneckCache(str(not_a_folder / "cache"), module, spec).compute(list(index.records), progress=False)


def test_transparent_png_trains_as_strokes_on_white(tmp_path):
    from retrain.data.images import load_image_file
    canvas = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    canvas.paste((0, 0, 0, 255), (8, 14, 24, 18))  # black stroke, transparent background
    canvas.save(tmp_path / "doodle.png")
    image = load_image_file(str(tmp_path / "doodle.png"), 32)
    assert np.allclose(image[0, 0], 1.0)          # background: white, i.e. +1 after normalisation
    assert image[16, 16].max() < -0.9             # stroke: black, i.e. -1
    Image.new("LA", (32, 32), (0, 0)).save(tmp_path / "clear.png")
    assert np.allclose(load_image_file(str(tmp_path / "clear.png"), 32), 1.0)


def test_32_bit_bmp_alpha_is_ignored(tmp_path):
    from retrain.data.images import load_image_file
    # Pillow writes RGBA BMPs with a real alpha channel; 0 here would whiten a composited image.
    Image.new("RGBA", (16, 16), (10, 200, 30, 0)).save(tmp_path / "x.bmp")
    image = load_image_file(str(tmp_path / "x.bmp"), 16)
    np.testing.assert_allclose(image[0, 0], (np.array([10, 200, 30]) - 127.5) / 127.5, atol=1e-5)


def test_opaque_images_decode_as_before(tmp_path):
    from retrain.data.images import load_image_file
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(20, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    Image.fromarray(pixels[..., 0]).save(tmp_path / "g.png")
    np.testing.assert_allclose(load_image_file(str(tmp_path / "x.png"), 20), (pixels - 127.5) / 127.5, atol=1e-5)
    gray = load_image_file(str(tmp_path / "g.png"), 20)
    np.testing.assert_allclose(gray[..., 1], (pixels[..., 0] - 127.5) / 127.5, atol=1e-5)
