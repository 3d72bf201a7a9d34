"""Decoding and normalising images exactly as the exported model's input expects."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from retrain.data.dataset import ImageRecord
from retrain.data.images import load_image_file, load_record_image, record_images_dataset
from retrain.families.architectures import INPUT_MEAN, INPUT_STD


@pytest.mark.parametrize("fmt,suffix", [("JPEG", "jpg"), ("PNG", "png"), ("BMP", "bmp"), ("GIF", "gif")])
def test_every_format_decodes_to_rgb_in_minus_one_one(tmp_path, fmt, suffix):
    path = tmp_path / f"red.{suffix}"
    Image.new("RGB", (50, 30), (255, 0, 0)).save(path, fmt)
    image = load_image_file(str(path), 32)
    assert image.shape == (32, 32, 3) and image.dtype == np.float32
    np.testing.assert_allclose(image[..., 0], 1.0, atol=0.02)
    np.testing.assert_allclose(image[..., 1:], -1.0, atol=0.02)


def test_normalisation_is_the_models_and_same_size_is_untouched(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    np.testing.assert_allclose(load_image_file(str(tmp_path / "x.png"), 32),
                               (pixels.astype(np.float32) - INPUT_MEAN) / INPUT_STD, atol=1e-6)


def test_gray_rgba_and_animated_inputs_become_three_channels(tmp_path):
    Image.new("L", (20, 20), 0).save(tmp_path / "gray.png")
    Image.new("RGBA", (20, 20), (0, 0, 255, 10)).save(tmp_path / "rgba.png")
    frames = [Image.new("RGB", (20, 20), c) for c in ((0, 255, 0), (255, 0, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    np.testing.assert_allclose(load_image_file(str(tmp_path / "gray.png"), 16), -1.0, atol=1e-6)
    rgba = load_image_file(str(tmp_path / "rgba.png"), 16)
    np.testing.assert_allclose(rgba[..., 2], 1.0, atol=1e-6)  # alpha dropped, colour kept
    anim = load_image_file(str(tmp_path / "anim.gif"), 16)
    assert anim.shape == (16, 16, 3)
    assert anim[..., 1].mean() > 0.9 and anim[..., 0].mean() < -0.9  # the first (green) frame


def test_undecodable_file_raises_value_error(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ValueError, match="not a decodable"):
        load_image_file(str(tmp_path / "bad.jpg"), 16)


def test_record_dataset_drops_bad_images_and_handles_quickdraw(tmp_path):
    Image.new("RGB", (20, 20), (255, 255, 255)).save(tmp_path / "white.png")
    (tmp_path / "bad.jpg").write_bytes(b"")
    bitmaps = np.zeros((2, 784), np.uint8)
    bitmaps[1] = 255  # all ink -> all black after inversion
    np.save(tmp_path / "d.npy", bitmaps)
    records = [ImageRecord("a", 0, "a/white.png", str(tmp_path / "white.png")),
               ImageRecord("a", 0, "a/bad.jpg", str(tmp_path / "bad.jpg")),
               ImageRecord("d", 1, "d/d.npy#0", str(tmp_path / "d.npy"), 0),
               ImageRecord("d", 1, "d/d.npy#1", str(tmp_path / "d.npy"), 1)]
    got = {int(i): image.numpy() for i, image in record_images_dataset(records, 24)}
    assert sorted(got) == [0, 2, 3]
    np.testing.assert_allclose(got[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(got[2], 1.0, atol=1e-6)   # empty drawing: white paper
    np.testing.assert_allclose(got[3], -1.0, atol=1e-6)  # all ink: black
    np.testing.assert_allclose(load_record_image(records[3], 24), got[3], atol=1e-6)
