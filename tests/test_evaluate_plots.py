"""retrain.evaluation.plots: every picture is a decodable PNG of a sensible size, and bad input is refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from retrain.evaluation import plots

QUICKDRAW_LABELS = ["angel", "apple", "bicycle", "bowtie", "cat", "diamond", "eye", "fish", "lollipop",
                    "owl", "rainbow", "sea turtle", "train"]


def decode(png: bytes) -> np.ndarray:
    """The PNG's pixels as RGB, after checking it is a PNG at all."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def is_drawn(pixels: np.ndarray) -> bool:
    """More than a blank canvas: a fair share of pixels is not white."""
    return np.mean(np.any(pixels < 200, axis=-1)) > 0.01


def test_confusion_matrix_with_13_long_labels():
    labels = list(QUICKDRAW_LABELS)
    labels[3] = "a very long class name that would not fit under a column"
    rng = np.random.default_rng(0)
    confusion = rng.integers(0, 5, size=(13, 13)) + np.diag(rng.integers(20, 60, size=13))
    confusion[5] = 0  # a class with no test images must not divide by zero
    pixels = decode(plots.plot_confusion_matrix(confusion, labels))
    height, width, _ = pixels.shape
    assert 600 <= width <= 3000 and 600 <= height <= 3000
    assert is_drawn(pixels)
    # The strongest blue of the colour map appears: diagonal cells are near 1 after row normalising.
    assert np.any((pixels[..., 2] > 80) & (pixels[..., 0] < 40))


def test_confusion_matrix_grows_with_the_number_of_classes():
    small = decode(plots.plot_confusion_matrix(np.eye(3, dtype=int) * 5, ["a", "b", "c"]))
    labels = [f"class {i}" for i in range(40)]
    large = decode(plots.plot_confusion_matrix(np.eye(40, dtype=int) * 5, labels))
    assert large.shape[0] > small.shape[0] and large.shape[1] > small.shape[1]
    assert small.shape[0] >= 400


def test_confusion_matrix_with_hundreds_of_classes_stays_bounded():
    labels = [f"c{i}" for i in range(344)]
    pixels = decode(plots.plot_confusion_matrix(np.eye(344, dtype=int), labels))
    assert max(pixels.shape[:2]) <= 4000


@pytest.mark.parametrize("confusion, labels, message", [
    (np.zeros((3, 2), dtype=int), ["a", "b", "c"], "square"),
    (np.zeros((3, 3), dtype=int), ["a", "b"], "2 labels"),
    (-np.eye(2, dtype=int), ["a", "b"], "negative"),
])
def test_confusion_matrix_refuses_bad_input(confusion, labels, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_confusion_matrix(confusion, labels)


def test_training_curves_keras_keys_with_sparse_validation():
    steps = list(range(0, 500, 10))
    accuracy = [0.3 + 0.6 * s / 500 for s in steps]
    history = {
        "accuracy": accuracy,
        "val_accuracy": [a - 0.05 if i % 5 == 0 else float("nan") for i, a in enumerate(accuracy)],
        "loss": [2.0 / (1 + s / 100) for s in steps],
        "val_loss": [2.2 / (1 + s / 100) for s in steps],
        "learning_rate": [0.01] * len(steps),  # not a curve panel: ignored
    }
    pixels = decode(plots.plot_training_curves(history, steps))
    assert pixels.shape[1] > pixels.shape[0] >= 300  # two panels side by side
    assert is_drawn(pixels)


def test_training_curves_tolerate_missing_and_renamed_keys():
    steps = [0, 1, 2]
    only_loss = decode(plots.plot_training_curves({"train_loss": [1.0, 0.5, 0.25]}, steps))
    spelled = decode(plots.plot_training_curves(
        {"train_accuracy": [0.1, 0.5, 0.9], "validation_accuracy": [0.1, 0.4, 0.8]}, steps))
    nothing = decode(plots.plot_training_curves({}, []))
    for pixels in (only_loss, spelled, nothing):
        assert min(pixels.shape[:2]) >= 300
    # A drawn curve adds ink: the empty history is the lightest picture.
    assert np.mean(nothing < 200) < np.mean(only_loss < 200)


def test_training_curves_refuse_a_series_of_the_wrong_length():
    with pytest.raises(ValueError, match="2 values for 3 steps"):
        plots.plot_training_curves({"loss": [1.0, 0.5]}, [0, 1, 2])


def test_misclassified_grid_of_uint8_float_and_gray_images():
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, size=(28, 28, 3), dtype=np.uint8),
              rng.uniform(-1, 1, size=(28, 28, 3)).astype(np.float32),
              rng.integers(0, 256, size=(28, 28), dtype=np.uint8),
              rng.integers(0, 256, size=(28, 28, 1), dtype=np.uint8)] * 3
    titles = [f"sea turtle -> a much longer predicted label ({i / 12:.2f})" for i in range(12)]
    pixels = decode(plots.plot_misclassified_grid(images, titles, columns=5))
    height, width, _ = pixels.shape
    assert width > height  # 5 columns, 3 rows
    assert 500 <= width <= 2000
    assert is_drawn(pixels)


def test_misclassified_grid_caps_the_number_drawn():
    images = [np.zeros((8, 8, 3), dtype=np.uint8)] * 100
    capped = decode(plots.plot_misclassified_grid(images, ["x"] * 100, columns=4, max_images=8))
    eight = decode(plots.plot_misclassified_grid(images[:8], ["x"] * 8, columns=4))
    assert abs(capped.shape[0] - eight.shape[0]) < 60  # two rows either way, not 25


def test_misclassified_grid_with_no_images_says_so():
    pixels = decode(plots.plot_misclassified_grid([], []))
    assert 100 <= pixels.shape[1] <= 1000
    assert is_drawn(pixels) or np.any(pixels < 100)  # the message is drawn, not a blank canvas


def test_float_pixels_map_from_minus_one_one_to_0_255():
    image = np.array([[-1.0, 0.0, 1.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(plots._displayable(image, 0), [[0, 128, 255, 255]])


@pytest.mark.parametrize("images, titles, columns, message", [
    ([np.zeros((4, 4, 3), np.uint8)], [], 8, "1 images but 0 titles"),
    ([np.zeros((4, 4, 3), np.uint8)], ["t"], 0, "columns"),
    ([np.zeros((4, 4, 2), np.uint8)], ["t"], 8, r"images\[0\] has shape"),
])
def test_misclassified_grid_refuses_bad_input(images, titles, columns, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_misclassified_grid(images, titles, columns=columns)


def test_confusion_examples_png_shows_each_pair_with_its_drawings():
    from retrain.evaluation.confusions import Confusion
    from retrain.evaluation.plots import plot_confusion_examples
    images = [np.zeros((28, 28, 3), np.uint8)] * 3
    data = plot_confusion_examples([(Confusion("donut", "smiley face", 3, 0.5), images),
                                    (Confusion("moon", "banana", 1, 0.1), images[:1])])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_confusion_examples([])[:4] == b"\x89PNG"  # "no confusions" picture
