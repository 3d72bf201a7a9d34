"""Rendering-robust training: seeded augmentations, K cached renderings per drawing, photos untouched."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from convert import drawing_augment
from convert.drawing import DEFAULT_CONTRACT, render_strokes
from retrain.data import quickdraw_source, renderings
from retrain.cli.main import cli
from retrain.data.dataset import ImageRecord
from tests.conftest import make_image_folder
from tests.test_pipeline import _quickdraw_files

STROKES = [[[0, 100, 200], [0, 150, 30]], [[50, 60], [200, 210]]]


def test_augment_bitmap_is_seeded_and_varies():
    pixels = render_strokes(STROKES, DEFAULT_CONTRACT)
    a = drawing_augment.augment_bitmap(pixels, drawing_augment.rng_for(0, "key", 1))
    b = drawing_augment.augment_bitmap(pixels, drawing_augment.rng_for(0, "key", 1))
    c = drawing_augment.augment_bitmap(pixels, drawing_augment.rng_for(0, "key", 2))
    assert a.dtype == np.uint8 and a.shape == pixels.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    small = drawing_augment.augment_bitmap(pixels[::2, ::2][:28, :28], drawing_augment.rng_for(1, "k", 1))
    assert small.shape == (64, 64)  # 28-px bitmaps are brought up to 64 px


def test_augment_strokes_is_seeded_keeps_stroke_count():
    a = drawing_augment.augment_strokes(STROKES, drawing_augment.rng_for(0, "key", 1))
    b = drawing_augment.augment_strokes(STROKES, drawing_augment.rng_for(0, "key", 1))
    assert a == b and len(a) == len(STROKES) and [len(s[0]) for s in a] == [3, 2]
    assert a != STROKES
    widths = {drawing_augment.stroke_contract(drawing_augment.rng_for(0, "k", i)).stroke_width
              for i in range(20)}
    assert min(widths) < 6 and max(widths) > 20


def test_quickdraw_render_zero_is_canonical_and_others_seeded(tmp_path):
    bitmap = np.zeros(784, np.uint8)
    bitmap[300:400] = 255
    canonical = quickdraw_source.render(bitmap)
    assert np.array_equal(quickdraw_source.render(bitmap, 0, 5), canonical)
    first = quickdraw_source.render(bitmap, 1, 0)
    assert np.array_equal(first, quickdraw_source.render(bitmap, 1, 0))
    assert not np.array_equal(first, canonical) and first.shape == canonical.shape
    assert not np.array_equal(quickdraw_source.render(tuple(map(tuple, STROKES)), 1, 0),
                              quickdraw_source.render(tuple(map(tuple, STROKES)), 0, 0))


def test_expand_training_leaves_labels_and_other_splits_alone():
    records = [ImageRecord("a", 0, "a/x#1", "/x.npy", 1), ImageRecord("b", 1, "b/y#2", "/y.npy", 2)]
    splits = {"training": records, "validation": records[:1], "testing": records[1:]}
    out = renderings.expand_training(splits, 3, 7, drawings=True)
    assert len(out["training"]) == 6 and out["validation"] == splits["validation"]
    assert out["testing"] == splits["testing"]
    assert [(r.label, r.label_index, r.rendering) for r in out["training"]] == [
        ("a", 0, 0), ("b", 1, 0), ("a", 0, 1), ("b", 1, 1), ("a", 0, 2), ("b", 1, 2)]
    assert {r.augment_seed for r in out["training"][2:]} == {7}
    assert renderings.expand_training(splits, 3, 7, drawings=False) is splits
    assert renderings.expand_training(splits, 1, 7, drawings=True) is splits


def test_drawing_folders_are_told_from_photos(tmp_path):
    photos = make_image_folder(tmp_path / "photos", {"a": 3, "b": 3})
    photo_records = [ImageRecord("a", 0, p.name, str(p)) for p in sorted(photos.rglob("*.jpg"))]
    assert photo_records and not renderings.looks_like_drawings(photo_records)
    drawings = tmp_path / "drawings"
    drawings.mkdir()
    for i in range(4):
        Image.fromarray(render_strokes([[[0, 50 + i * 40], [0, 200]]], DEFAULT_CONTRACT)).save(
            drawings / f"{i}.jpg")
    assert renderings.looks_like_drawings(
        [ImageRecord("a", 0, p.name, str(p)) for p in sorted(drawings.glob("*.jpg"))])


def _train(tmp_path, source, standin_module, *extra, image_dir=False):
    return CliRunner().invoke(cli, [
        "--image_dir" if image_dir else "--quickdraw_dir", str(source), "--quickdraw_per_class", "20", "--tfhub_module", standin_module,
        "--input_size", "32", "--bottleneck_dir", str(tmp_path / "b"), "--output_dir", str(tmp_path / "m"),
        "--how_many_training_steps", "10", "--eval_step_interval", "10", "--train_batch_size", "8", *extra],
        catch_exceptions=False)


def test_renderings_are_cached_once_and_reused(tmp_path, standin_module):
    source = _quickdraw_files(tmp_path / "qd", 20)
    first = _train(tmp_path, source, standin_module, "--renderings", "3")
    assert first.exit_code == 0, first.output
    assert "Renderings: 3 per training drawing" in first.output
    splits = json.loads((tmp_path / "m" / "splits.json").read_text())
    n_train, n_other = len(splits["training"]), len(splits["validation"]) + len(splits["testing"])
    assert f"{3 * n_train + n_other} images" in first.output
    info = json.loads((tmp_path / "m" / "model_info.json").read_text())
    assert info["drawing_contract"]["stroke_width"] == 16.0 and info["renderings"] == 3
    assert info["input_preprocessing"] == "bitmap28_ink"  # `auto` on drawings (retrain/model_folder/input_preprocessing.py)
    assert "Input preprocessing (inside the model): bitmap28_ink" in first.output
    again = _train(tmp_path, source, standin_module, "--renderings", "3")
    assert again.exit_code == 0, again.output
    assert f"{3 * n_train + n_other} images" in again.output and " 0 computed" in again.output


def test_photos_get_no_input_preprocessing_and_it_is_in_the_exported_graph(tmp_path, standin_module):
    photos = make_image_folder(tmp_path / "photos", {"red": 12, "blue": 12})
    result = _train(tmp_path, photos, standin_module, image_dir=True)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m" / "model_info.json").read_text())["input_preprocessing"] == "none"
    drawings = _quickdraw_files(tmp_path / "qd", 20)
    chosen = _train(tmp_path, drawings, standin_module, "--input_preprocessing", "bitmap28", "--output_dir",
                    str(tmp_path / "m2"))
    assert chosen.exit_code == 0, chosen.output
    from retrain.model_folder.saved_model import load_keras_model
    model = load_keras_model(str(tmp_path / "m2" / "saved_model"))
    assert [layer.name for layer in model.layers if layer.name.startswith("input_")] == ["input_bitmap28"]


def test_fine_tuning_redraws_each_drawing_at_random_on_every_pass(tmp_path):
    """--fine_tune on drawings: fresh renderings each pass (none cached), labels untouched."""
    from retrain.families.hub_head.finetune import fresh_renderings
    source = _quickdraw_files(tmp_path / "qd", 6)
    index = quickdraw_source.scan(str(source), per_class=6, seed=0)
    records = renderings.expand_training({"training": list(index.records), "validation": [], "testing": []},
                                         3, seed=0, drawings=True)["training"]
    assert len(records) == 36  # 12 drawings x 3 cached renderings, folded back to 12 below
    batches = iter(fresh_renderings(records, 2, 32, 12, renderings=3, seed=0))
    first, second = next(batches), next(batches)  # one pass each (12 drawings, batches of 12)
    canonical = {}
    for r in index.records:
        canonical[r.label_index] = canonical.get(r.label_index, 0) + 1
    for x, y in (first, second):
        assert x.shape == (12, 32, 32, 3)
        counts = np.bincount(np.argmax(y.numpy(), axis=1), minlength=2)
        assert dict(enumerate(counts)) == canonical  # every drawing once a pass, with its own label
    # Same seed, same stream: reproducible.
    again = next(iter(fresh_renderings(records, 2, 32, 12, renderings=3, seed=0)))
    np.testing.assert_array_equal(again[0].numpy(), first[0].numpy())
    # Across the two passes, the pixels of the same drawings differ (new random renderings).
    assert np.abs(np.sort(first[0].numpy().reshape(12, -1).sum(1)) -
                  np.sort(second[0].numpy().reshape(12, -1).sum(1))).max() > 1.0
