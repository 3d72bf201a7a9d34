"""retrain.evaluation.evaluate: scores checked against hand-worked examples and a brute-force re-count."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from retrain.evaluation.evaluate import (CONFUSION_PNG, EVALUATION_JSON, MISCLASSIFIED_PNG, PER_CLASS_CSV,
                              TRAINING_CURVES_PNG, EvaluationResult, Misclassified, evaluate,
                              format_summary, misclassified_title, to_json, weakest_classes,
                              write_evaluation)

LABELS = ["cat", "sea turtle", "apple"]
# Six images, worked out by hand: rows are softmax outputs over LABELS.
PROBABILITIES = np.array([
    [0.70, 0.20, 0.10],  # cat        -> cat         right
    [0.10, 0.60, 0.30],  # cat        -> sea turtle  wrong (0.60)
    [0.20, 0.50, 0.30],  # sea turtle -> sea turtle  right
    [0.30, 0.30, 0.40],  # sea turtle -> apple       wrong (0.40)
    [0.10, 0.10, 0.80],  # apple      -> apple       right
    [0.50, 0.25, 0.25],  # apple      -> cat         wrong (0.50)
])
TRUE = np.array([0, 0, 1, 1, 2, 2])
NAMES = [f"Output/{LABELS[t]}/img_{i}.jpg" for i, t in enumerate(TRUE)]


@pytest.fixture
def result() -> EvaluationResult:
    return evaluate(PROBABILITIES, TRUE, LABELS, NAMES)


def test_hand_worked_three_classes(result):
    assert result.count == 6
    assert result.top1 == pytest.approx(3 / 6)
    # With 3 classes, "top-5" is top-3: every image's true label is among all the labels.
    assert result.top_k == 3
    assert result.top5 == pytest.approx(1.0)
    np.testing.assert_array_equal(result.confusion, [[1, 1, 0],
                                                     [0, 1, 1],
                                                     [1, 0, 1]])
    assert result.confusion.dtype.kind == "i"
    assert result.labels == LABELS
    assert result.per_class == {
        "cat": {"accuracy": 0.5, "count": 2, "correct": 1},
        "sea turtle": {"accuracy": 0.5, "count": 2, "correct": 1},
        "apple": {"accuracy": 0.5, "count": 2, "correct": 1},
    }
    assert result.misclassified == (
        Misclassified("Output/cat/img_1.jpg", "cat", "sea turtle", pytest.approx(0.6), 1),
        Misclassified("Output/sea turtle/img_3.jpg", "sea turtle", "apple", pytest.approx(0.4), 3),
        Misclassified("Output/apple/img_5.jpg", "apple", "cat", pytest.approx(0.5), 5),
    )


def test_top5_excludes_the_sixth_ranked_label():
    labels = [f"class{i}" for i in range(6)]
    # True label ranked 1st, 5th, 6th, 2nd: top-1 = 1/4, top-5 = 3/4.
    probabilities = np.array([
        [0.50, 0.10, 0.10, 0.10, 0.10, 0.10],
        [0.30, 0.25, 0.20, 0.15, 0.07, 0.03],  # true 4: 5th
        [0.30, 0.25, 0.20, 0.15, 0.07, 0.03],  # true 5: 6th
        [0.10, 0.20, 0.40, 0.10, 0.10, 0.10],  # true 1: 2nd
    ])
    result = evaluate(probabilities, np.array([0, 4, 5, 1]), labels, ["a", "b", "c", "d"])
    assert result.top_k == 5
    assert result.top1 == pytest.approx(0.25)
    assert result.top5 == pytest.approx(0.75)
    assert [m.name for m in result.misclassified] == ["b", "c", "d"]
    assert result.per_class["class3"] == {"accuracy": None, "count": 0, "correct": 0}


def test_matches_brute_force_count_on_random_scores():
    rng = np.random.default_rng(7)
    n, num_classes = 300, 13
    labels = [f"label {i}" for i in range(num_classes)]
    probabilities = rng.dirichlet(np.ones(num_classes), size=n)
    true = rng.integers(0, num_classes, size=n)
    result = evaluate(probabilities, true, labels, [str(i) for i in range(n)])

    top1 = top5 = 0
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    for row, label in zip(probabilities, true):
        order = sorted(range(num_classes), key=lambda j: -row[j])
        top1 += order[0] == label
        top5 += label in order[:5]
        confusion[label, order[0]] += 1
    assert result.top1 == pytest.approx(top1 / n)
    assert result.top5 == pytest.approx(top5 / n)
    assert 0 < result.top1 < result.top5 < 1  # the example exercises both kinds of miss
    np.testing.assert_array_equal(result.confusion, confusion)
    assert len(result.misclassified) == n - top1
    for label, stats in result.per_class.items():
        index = labels.index(label)
        assert stats["count"] == int(np.sum(true == index))
        assert stats["correct"] == int(np.sum((true == index) & (probabilities.argmax(1) == index)))


def test_ties_break_towards_the_lower_index_for_top1_and_top5():
    labels = [f"c{i}" for i in range(7)]
    flat = np.full((3, 7), 1 / 7)
    result = evaluate(flat, np.array([0, 4, 5]), labels, ["x", "y", "z"])
    # argmax of a flat row is label 0; the top five are labels 0..4.
    assert result.top1 == pytest.approx(1 / 3)
    assert result.top5 == pytest.approx(2 / 3)
    assert {m.predicted_label for m in result.misclassified} == {"c0"}


def test_empty_test_set_is_a_clear_error():
    with pytest.raises(ValueError, match="no test images"):
        evaluate(np.zeros((0, 3)), np.zeros((0,), dtype=int), LABELS, [])


@pytest.mark.parametrize("probabilities, true, labels, names, message", [
    (PROBABILITIES[:, :2], TRUE, LABELS, NAMES, "2 columns but there are 3 labels"),
    (PROBABILITIES, TRUE, LABELS, NAMES[:5], "5 names for 6 images"),
    (PROBABILITIES, np.array([0, 0, 1, 1, 2, 3]), LABELS, NAMES, r"must lie in \[0, 2\]"),
    (PROBABILITIES, np.array([0, 0, 1, 1, 2, -1]), LABELS, NAMES, r"must lie in \[0, 2\]"),
    (PROBABILITIES, TRUE.astype(float), LABELS, NAMES, "integer label indices"),
    (PROBABILITIES, TRUE[:5], LABELS, NAMES, r"shape \(6,\)"),
    (PROBABILITIES[0], TRUE, LABELS, NAMES, "2-D"),
    (np.where(PROBABILITIES > 0.75, np.nan, PROBABILITIES), TRUE, LABELS, NAMES, "NaN"),
    (PROBABILITIES, TRUE, ["cat", "cat", "apple"], NAMES, "duplicates"),
])
def test_bad_inputs_say_what_is_wrong(probabilities, true, labels, names, message):
    with pytest.raises(ValueError, match=message):
        evaluate(probabilities, true, labels, names)


def test_summary_reports_accuracy_and_weakest_classes():
    labels = ["owl", "fish", "train"]
    probabilities = np.eye(3)[[0, 0, 0, 0, 1, 2, 2, 2, 2, 0]]
    # owl 4/4 right; fish 1/3 right; train 2/3 right.
    true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    result = evaluate(probabilities, true, labels, [f"img{i}" for i in range(10)])
    assert [label for label, _ in weakest_classes(result)] == ["fish", "train", "owl"]
    assert [label for label, _ in weakest_classes(result, 1)] == ["fish"]

    text = format_summary(result, print_misclassified=False)
    # MAP@3: the 3 misses have their true label third (ties go to the lower index): (7 + 3/3) / 10.
    # macro: (4/4 + 1/3 + 2/3) / 3 = 66.7%, below the micro 70% (the small, bad class counts fully)
    assert text.splitlines()[0] == ("Final test accuracy = 70.0% top-1, 66.7% macro top-1 (per-class mean), "
                                    "100.0% top-3, MAP@3 80.0% (N=10, 3 misclassified)")
    assert "fish" in text and "33.3%" in text and "(1/3)" in text
    assert text.index("fish") < text.index("train") < text.index("owl")
    assert "MISCLASSIFIED" not in text and "img5" not in text


def test_summary_lists_misclassified_when_asked(result):
    text = format_summary(result, print_misclassified=True)
    lines = text.splitlines()
    start = lines.index("=== MISCLASSIFIED TEST IMAGES ===")
    listed = [" ".join(line.split()) for line in lines[start + 1:]]
    assert listed == ["Output/cat/img_1.jpg cat -> sea turtle (0.60)",
                      "Output/sea turtle/img_3.jpg sea turtle -> apple (0.40)",
                      "Output/apple/img_5.jpg apple -> cat (0.50)"]
    assert "  cat -> sea turtle (0.60)" in lines[start + 1]  # two spaces after the name


def test_summary_with_nothing_wrong_and_a_class_without_images():
    result = evaluate(np.eye(3)[[0, 1, 1]], np.array([0, 1, 1]), LABELS, ["a", "b", "c"])
    text = format_summary(result, print_misclassified=True)
    assert "100.0% top-1" in text
    assert "No test images for: apple" in text
    assert text.rstrip().endswith("(none)")


def test_write_evaluation_files(tmp_path, result):
    output_dir = tmp_path / "run" / "out"  # does not exist yet
    paths = write_evaluation(result, str(output_dir))
    assert paths == {"per_class_csv": str(output_dir / PER_CLASS_CSV),
                     "evaluation_json": str(output_dir / EVALUATION_JSON),
                     "confusion_matrix_png": str(output_dir / CONFUSION_PNG),
                     "reliability_png": str(output_dir / "reliability.png")}
    # Nothing but the three files: no temporary leftovers.
    assert sorted(os.listdir(output_dir)) == sorted([PER_CLASS_CSV, EVALUATION_JSON, CONFUSION_PNG,
                                                     "reliability.png"])

    with open(paths["per_class_csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["label"] for row in rows] == LABELS
    assert [(int(r["count"]), int(r["correct"]), float(r["accuracy"])) for r in rows] == [(2, 1, 0.5)] * 3

    with open(paths["evaluation_json"], encoding="utf-8") as handle:
        data = json.load(handle)
    assert data["top1"] == pytest.approx(0.5) and data["top5"] == pytest.approx(1.0)
    assert data["count"] == 6 and data["labels"] == LABELS
    assert data["per_class"] == result.per_class
    assert data["confusion"] == result.confusion.tolist()
    assert [(m["name"], m["true_label"], m["predicted_label"]) for m in data["misclassified"]] == [
        (m.name, m.true_label, m.predicted_label) for m in result.misclassified]

    with Image.open(paths["confusion_matrix_png"]) as image:
        assert image.format == "PNG"
        assert min(image.size) >= 400


def test_write_evaluation_leaves_accuracy_blank_for_a_class_without_images(tmp_path):
    result = evaluate(np.eye(3)[[0, 1]], np.array([0, 1]), LABELS, ["a", "b"])
    write_evaluation(result, str(tmp_path))
    rows = list(csv.DictReader(io.StringIO((tmp_path / PER_CLASS_CSV).read_text(encoding="utf-8"))))
    assert rows[2] == {"label": "apple", "count": "0", "correct": "0", "accuracy": ""}
    assert json.loads((tmp_path / EVALUATION_JSON).read_text())["per_class"]["apple"]["accuracy"] is None


def test_write_evaluation_with_curves_and_misclassified_grid(tmp_path, result):
    images = [np.full((28, 28, 3), 255 * i // 3, dtype=np.uint8) for i in range(2)]  # first 2 of 3
    paths = write_evaluation(result, str(tmp_path), history={"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]},
                             steps=[0, 10], misclassified_images=images)
    assert paths["training_curves_png"] == str(tmp_path / TRAINING_CURVES_PNG)
    assert paths["misclassified_png"] == str(tmp_path / MISCLASSIFIED_PNG)
    for key in ("training_curves_png", "misclassified_png"):
        with Image.open(paths[key]) as image:
            assert image.format == "PNG" and min(image.size) >= 200
    assert misclassified_title(result.misclassified[0]) == "cat -> sea turtle (0.60)\nOutput/cat/img_1.jpg"


def test_write_evaluation_refuses_mismatched_extras_before_writing(tmp_path, result):
    with pytest.raises(ValueError, match="together"):
        write_evaluation(result, str(tmp_path), history={"loss": [1.0]})
    with pytest.raises(ValueError, match="4 misclassified images for 3"):
        write_evaluation(result, str(tmp_path), misclassified_images=[np.zeros((4, 4, 3), np.uint8)] * 4)
    with pytest.raises(ValueError, match="1 values for 2 steps"):
        write_evaluation(result, str(tmp_path), history={"loss": [1.0]}, steps=[0, 1])
    assert os.listdir(tmp_path) == []  # bad input: nothing written


def test_modules_import_without_tensorflow_or_pyplot():
    code = ("import sys, retrain.evaluation.evaluate, retrain.evaluation.plots; "
            "bad = [m for m in ('tensorflow', 'tf_keras', 'matplotlib.pyplot') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_macro_top1_is_the_mean_of_per_class_accuracies_not_per_drawing():
    from retrain.evaluation.metrics import macro_accuracy
    labels = ["big", "small", "none"]
    # 90 "big" drawings all right, 10 "small" all wrong: micro 90%, macro 50% (the class without
    # test drawings does not count).
    true = np.array([0] * 90 + [1] * 10)
    result = evaluate(np.eye(3)[np.zeros(100, int)], true, labels, [str(i) for i in range(100)])
    assert result.top1 == pytest.approx(0.9)
    assert result.macro_top1 == pytest.approx(0.5)
    assert macro_accuracy(result.per_class) == pytest.approx(0.5)
    data = to_json(result)
    assert data["macro_top1"] == pytest.approx(0.5) and data["per_class_worst_first"] == ["small", "big"]


def test_dead_class_is_named_with_training_count_top_confusion_and_advice(tmp_path):
    from retrain.evaluation.evaluate import weak_classes
    labels = ["cat", "dog", "frog", "owl"]
    # cat, dog and owl right; every frog taken for a dog: frog is never predicted and at 0%.
    true = np.array([0] * 10 + [1] * 10 + [2] * 5 + [3] * 10)
    predicted = np.array([0] * 10 + [1] * 10 + [1] * 5 + [3] * 10)
    probabilities = np.eye(4)[predicted] * 0.9 + 0.025
    result = evaluate(probabilities, true, labels, [str(i) for i in range(len(true))])
    counts = {"cat": 900, "dog": 1000, "frog": 120, "owl": 950}
    weak = weak_classes(result, counts)
    assert [w.label for w in weak] == ["frog"]
    assert weak[0].never_predicted and weak[0].train_count == 120
    assert weak[0].confused_with == "dog" and weak[0].confused_share == pytest.approx(1.0)
    assert "collect more drawings" in weak[0].advice and "--class_balanced" in weak[0].advice
    text = format_summary(result, False, counts)
    assert "Warning: 1 class(es)" in text
    assert "frog    0.0% of 5 test drawings, never predicted, taken for 'dog' 100% (120 training drawings)" in text
    assert "collect more drawings" in text and "What helps: --class_balanced" in text
    frog_line = next(line for line in text.splitlines() if "never predicted," in line)
    # Its own hints only: none of the general advice (which holds a "; " of its own) leaks into it.
    assert frog_line.endswith("(`qdretrain audit` finds mislabelled drawings)"), frog_line
    assert "half way" not in frog_line and "--class_balanced" not in frog_line
    write_evaluation(result, str(tmp_path), train_counts=counts)
    data = json.loads((tmp_path / EVALUATION_JSON).read_text())
    assert data["weak_classes"][0]["label"] == "frog" and data["weak_classes"][0]["train_count"] == 120
    rows = list(csv.DictReader(io.StringIO((tmp_path / PER_CLASS_CSV).read_text(encoding="utf-8"))))
    assert rows[0]["label"] == "frog"  # worst first


def test_a_healthy_model_warns_about_nothing_and_is_calibrated():
    labels = ["a", "b"]
    result = evaluate(np.eye(2)[[0, 1, 0, 1]], np.array([0, 1, 0, 1]), labels, list("wxyz"))
    assert "Warning" not in format_summary(result, False)
    assert result.ece == pytest.approx(0.0)  # 100% sure and 100% right


def test_expected_calibration_error_of_an_overconfident_model():
    from retrain.evaluation.metrics import calibration
    # Always 90% sure, right half the time: ECE 0.4, all in the last bin.
    probabilities = np.array([[0.9, 0.1]] * 4)
    ece, bins = calibration(probabilities, np.array([0, 1, 0, 1]))
    assert ece == pytest.approx(0.4)
    assert [b[2] for b in bins if b[2]] == [4]
