"""Many-class evaluations: top confusions instead of an unreadable matrix, MAP@3 reported."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from retrain.evaluation import confusions
from retrain.evaluation.evaluate import (CONFUSION_PNG, EVALUATION_JSON, TOP_CONFUSIONS_PNG, evaluate, format_summary,
                              write_evaluation)


def _many_class_predictions(num_classes=40):
    """Hand-made predictions over `num_classes` labels: class i has 10 test images; class 0 loses 6 to
    class 1, class 2 loses 3 to class 5 and 1 to class 7, class 9 loses 3 to class 0 (3 of 10 like class 2,
    but fewer than class 0's 6); every other image is right. The true label is always second at most."""
    labels = [f"class {i:02d}" for i in range(num_classes)]
    predicted = {i: [i] * 10 for i in range(num_classes)}
    predicted[0] = [1] * 6 + [0] * 4
    predicted[2] = [5] * 3 + [7] + [2] * 6
    predicted[9] = [0] * 3 + [9] * 7
    rows, true = [], []
    for label, guesses in predicted.items():
        for guess in guesses:
            p = np.full(num_classes, 0.1 / num_classes)
            p[guess] += 0.6
            p[label] += 0.3 if guess != label else 0.0
            rows.append(p / p.sum())
            true.append(label)
    return np.array(rows), np.array(true), labels


def test_top_confusions_by_count_then_share_with_the_true_class_share():
    probabilities, true, labels = _many_class_predictions()
    result = evaluate(probabilities, true, labels, [f"t{i}" for i in range(len(true))])
    pairs = result.top_confusions()
    assert [(p.true_label, p.predicted_label, p.count) for p in pairs] == [
        ("class 00", "class 01", 6), ("class 02", "class 05", 3), ("class 09", "class 00", 3),
        ("class 02", "class 07", 1)]
    assert [p.share for p in pairs] == [0.6, 0.3, 0.3, 0.1]
    assert confusions.top_confusions(result.confusion, labels, limit=2) == pairs[:2]
    # Wrong ones are all second choices: MAP@3 = (right + wrong / 2) / n.
    wrong = 6 + 4 + 3
    assert result.map3 == pytest.approx((len(true) - wrong + wrong / 2) / len(true))
    with pytest.raises(ValueError, match="must be"):
        confusions.top_confusions(result.confusion, labels[:-1])


def test_many_classes_write_top_confusions_not_the_matrix(tmp_path):
    probabilities, true, labels = _many_class_predictions()
    result = evaluate(probabilities, true, labels, [f"t{i}" for i in range(len(true))])
    (tmp_path / CONFUSION_PNG).write_bytes(b"an older run's matrix")
    paths = write_evaluation(result, str(tmp_path))
    assert "confusion_matrix_png" not in paths and not (tmp_path / CONFUSION_PNG).exists()
    data = json.loads((tmp_path / EVALUATION_JSON).read_text())
    assert "confusion" not in data and data["map_at_3"] == pytest.approx(result.map3)
    assert data["top_confusions"][0] == {"true_label": "class 00", "predicted_label": "class 01", "count": 6,
                                         "share": 0.6}
    with Image.open(io.BytesIO((tmp_path / TOP_CONFUSIONS_PNG).read_bytes())) as image:
        assert image.format == "PNG" and image.size[0] >= 600
        # Bars are drawn: some clearly blue pixels.
        pixels = np.asarray(image.convert("RGB")).astype(int)
        assert np.mean((pixels[..., 2] - pixels[..., 0]) > 60) > 0.005
    text = format_summary(result, False)
    assert "MAP@3" in text and "Most frequent confusions" in text
    assert "class 00 -> class 01  6  (60% of class 00)" in text


def test_few_classes_keep_the_matrix_and_report_map3(tmp_path):
    probabilities, true, labels = _many_class_predictions(num_classes=confusions.MANY_CLASSES)
    result = evaluate(probabilities, true, labels, [f"t{i}" for i in range(len(true))])
    paths = write_evaluation(result, str(tmp_path))
    assert os.path.exists(paths["confusion_matrix_png"]) and not (tmp_path / TOP_CONFUSIONS_PNG).exists()
    data = json.loads((tmp_path / EVALUATION_JSON).read_text())
    assert "top_confusions" not in data and len(data["confusion"]) == confusions.MANY_CLASSES
    assert "Most frequent confusions" not in format_summary(result, False)
    assert "MAP@3" in format_summary(result, False)


def test_no_confusions_say_so():
    result = evaluate(np.eye(40), np.arange(40), [f"c{i}" for i in range(40)], [str(i) for i in range(40)])
    assert result.top_confusions() == () and result.map3 == 1.0
    assert "no confusions" in format_summary(result, False)


@pytest.mark.slow
def test_344_stroke_classes_get_top_confusions_and_map3_not_a_matrix(tmp_path):
    """quickdraw_cnn_small on every real stroke class in ../shared (25 drawings each): the run's
    evaluation lists top confusions and MAP@3, and no 344x344 matrix is drawn or stored (~100 s)."""
    from click.testing import CliRunner

    from retrain.cli.main import cli
    from tests.conftest import shared_path
    data = shared_path("data", "quickdraw_ndjson")
    out = tmp_path / "model"
    result = CliRunner().invoke(cli, [
        "--architecture", "quickdraw_cnn_small", "--quickdraw_dir", str(data), "--epochs", "2",
        "--train_batch_size", "64", "--learning_rate", "0.005", "--output_dir", str(out)],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Most frequent confusions (344 classes" in result.output and "MAP@3" in result.output
    evaluation = json.loads((out / EVALUATION_JSON).read_text())
    assert len(evaluation["labels"]) == 344 and "confusion" not in evaluation
    assert 0 <= evaluation["map_at_3"] <= 1 and evaluation["count"] > 500
    pairs = evaluation["top_confusions"]
    assert len(pairs) == confusions.TOP_CONFUSIONS
    assert [p["count"] for p in pairs] == sorted((p["count"] for p in pairs), reverse=True)
    assert all(p["true_label"] != p["predicted_label"] for p in pairs)
    assert (out / TOP_CONFUSIONS_PNG).exists() and not (out / CONFUSION_PNG).exists()
