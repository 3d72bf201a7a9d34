"""Preprocessing inside the model (retrain/model_folder/input_preprocessing.py, retrain/model_folder/drawing_rescale.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from retrain.families import architectures

from retrain.model_folder import input_preprocessing
from common.errors import ConfigError


def _bitmap(seed: int = 0) -> np.ndarray:
    """A 28x28 uint8 black-on-white drawing: a few dark strokes."""
    rng = np.random.default_rng(seed)
    paper = np.full((28, 28), 255, np.uint8)
    for _ in range(4):
        r, c = rng.integers(4, 24, 2)
        paper[r, c - 3:c + 3] = rng.integers(0, 60)
        paper[r - 3:r + 3, c] = rng.integers(0, 60)
    return paper


def _to_input(gray: np.ndarray) -> np.ndarray:
    """uint8 gray -> the model's float RGB input in [-1, 1], batch of one."""
    return ((np.stack([gray.astype(np.float32)] * 3, -1) - 127.5) / 127.5)[None]


def test_auto_resolves_by_the_data_and_unknown_names_are_refused():
    assert input_preprocessing.resolve("auto", drawings=True).name == input_preprocessing.DRAWINGS_DEFAULT
    assert input_preprocessing.resolve("auto", drawings=False).name == "none"
    assert input_preprocessing.resolve("bitmap28", drawings=False).name == "bitmap28"
    assert input_preprocessing.layer(input_preprocessing.get("none")) is None
    with pytest.raises(ConfigError, match="bitmap28_ink"):
        input_preprocessing.get("bitmap32")


def test_a_nearest_neighbour_upscale_comes_back_to_the_exact_bitmap():
    from retrain.model_folder.drawing_rescale import DrawingRescale
    bitmap = _bitmap()
    nearest = np.asarray(Image.fromarray(bitmap).resize((224, 224), Image.NEAREST))
    bilinear = np.asarray(Image.fromarray(bitmap).resize((224, 224), Image.BILINEAR))
    layer = DrawingRescale(side=28, stretch_ink=False)
    from_nearest = layer(_to_input(nearest)).numpy()
    from_bitmap = layer(_to_input(np.asarray(Image.fromarray(bitmap).resize((224, 224), Image.BOX)))).numpy()
    assert from_nearest.shape == (1, 224, 224, 3)
    np.testing.assert_allclose(from_nearest, from_bitmap, atol=1e-5)
    # Without the layer the two inputs differ more than with it (bilinear comes back slightly blurred).
    raw_gap = np.abs(_to_input(nearest) - _to_input(bilinear)).mean()
    layered_gap = np.abs(from_nearest - layer(_to_input(bilinear)).numpy()).mean()
    assert layered_gap < 0.75 * raw_gap


def test_the_ink_stretch_blackens_pale_strokes_and_leaves_paper_and_empty_images_alone():
    from retrain.model_folder.drawing_rescale import DrawingRescale
    pale = np.full((224, 224), 255, np.uint8)
    pale[100:124, 40:180] = 160  # a pale stroke
    out = DrawingRescale(side=28, stretch_ink=True)(_to_input(pale)).numpy()
    assert out.min() == pytest.approx(-1.0, abs=1e-4)          # the darkest pixel is now full ink
    assert out[0, 5, 5, 0] == pytest.approx(1.0, abs=1e-5)     # paper stays paper
    empty = np.full((224, 224), 255, np.uint8)
    np.testing.assert_allclose(DrawingRescale(side=28)(_to_input(empty)).numpy(), 1.0, atol=1e-6)
    gray_paper = np.full((224, 224), 200, np.uint8)             # gray paper is paper
    np.testing.assert_allclose(DrawingRescale(side=28)(_to_input(gray_paper)).numpy(), 1.0, atol=1e-6)
    faint = gray_paper.copy()
    faint[::7, ::5] = 190                                       # faint noise is not blown up into strokes
    assert DrawingRescale(side=28)(_to_input(faint)).numpy().min() > 0.6


def test_sizes_that_are_not_a_multiple_of_28_and_the_config_round_trip():
    from retrain.model_folder.drawing_rescale import DrawingRescale
    layer = DrawingRescale(side=28, stretch_ink=False)
    out = layer(_to_input(np.asarray(Image.fromarray(_bitmap()).resize((299, 299))))).numpy()
    assert out.shape == (1, 299, 299, 3) and -1.0 <= out.min() and out.max() <= 1.0
    again = DrawingRescale.from_config(layer.get_config())
    assert (again.side, again.stretch_ink) == (28, False)


def test_cached_features_are_the_exported_backbone_s_and_the_key_changes(tmp_path, standin_module):
    """The cache applies the same layer as the classifier, so heads trained on it fit the export."""
    from retrain.families.hub_head.bottlenecks import BottleneckCache
    from retrain.data.dataset import DatasetWarning, scan_image_dir
    from retrain.families.hub_head.hub_modules import resolve_module
    from retrain.data.images import load_image_file
    from retrain.families.hub_head.model import build_classifier, build_head
    from common.tfcompat import keras
    from tests.conftest import make_image_folder
    plain = architectures.with_overrides(architectures.get("mobilenet_0.25_224"), input_size=32, feature_size=8)
    spec = architectures.with_overrides(plain, input_preprocessing="bitmap28_ink")
    module = resolve_module(spec, standin_module)
    root = make_image_folder(tmp_path / "images", {"cat": 4, "dog": 4})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        records = list(scan_image_dir(str(root)).records)
    classifier = build_classifier(spec, module, build_head(8, 2))
    assert classifier.get_layer("input_bitmap28_ink") is not None
    backbone = keras.Model(classifier.input, classifier.get_layer("backbone").output)
    images = np.stack([load_image_file(r.source, 32) for r in records])
    expected = backbone.predict(images, batch_size=1, verbose=0)
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)
    cache.compute(records, batch_size=3, progress=False)
    features, _ = cache.load(records)
    np.testing.assert_allclose(features, expected, atol=1e-5)
    assert BottleneckCache(str(tmp_path / "bn"), module, plain).dir != cache.dir
    plain_features = BottleneckCache(str(tmp_path / "bn2"), module, plain).feature_function()(images).numpy()
    assert np.abs(plain_features - expected).max() > 1e-3  # the layer really changes what the module sees


def test_a_saved_model_with_the_layer_loads_back(tmp_path):
    from retrain.model_folder.saved_model import load_keras_model
    from retrain.model_folder.drawing_rescale import DrawingRescale
    from common.tfcompat import keras
    image = keras.Input((56, 56, 3), name="input")
    out = keras.layers.GlobalAveragePooling2D()(DrawingRescale(side=28, name="rescale")(image))
    model = keras.Model(image, out)
    model.save(str(tmp_path / "saved_model"), save_format="tf")
    loaded = load_keras_model(str(tmp_path / "saved_model"))
    x = _to_input(np.asarray(Image.fromarray(_bitmap()).resize((56, 56))))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
