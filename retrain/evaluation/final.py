"""The final evaluation of a trained model: the same for every family.

The classifier scores the test split prepared by `test_images.model_inputs` (the pixels the family
trained on), so the summary printed here, the rendering panel's "training" row and `qdretrain
export`'s "trained model accuracy" are one computation on the same images, and print the same top-1.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

import numpy as np

# Drawings shown in misclassified.png: a grid that stays readable.
GRID_IMAGES = 32
CONFUSION_EXAMPLES_PNG = "confusion_examples.png"
CONFUSION_PAIRS = 8  # pairs in confusion_examples.png, most frequent first
EXAMPLES_PER_PAIR = 6  # drawings shown for each pair


def evaluate_test_set(classifier, test_records: Sequence, labels: Sequence[str], input_size: int, family: str,
                      out_dir: str, echo: Callable[[str], None], print_misclassified: bool = False,
                      panel: bool = True, train_counts: Optional[dict] = None):
    """Scores `classifier` on the test records, prints the summary, writes the evaluation files.

    Args:
      classifier: Keras model, input [-1, 1] -> softmax.
      test_records: the test split's ImageRecords.
      labels: class names in output order.
      input_size: the model's input side.
      family: model_info.json's "family" (how test images become inputs).
      out_dir: where evaluation.json, per_class_accuracy.csv and the pictures go.
      echo: prints a line.
      print_misclassified: list every misclassified image (--print_misclassified_test_images).
      panel: run the rendering panel after it (retrain/evaluation/panel.py).
      train_counts: label -> training drawings, shown beside each class the summary warns about.

    Returns:
      The EvaluationResult, or None when there are no test images.
    """
    from retrain.evaluation import evaluate
    from retrain.evaluation.test_images import model_inputs, predict_in_batches
    if not test_records:
        echo("No test images (the test split is empty: raise --testing_percentage or add images): "
             "skipping the final evaluation.")
        return None
    echo(f"Evaluating on {len(test_records)} held-back test images...")
    kept, inputs = model_inputs(test_records, input_size, family)
    if not len(kept):
        echo("None of the test images could be read: skipping the final evaluation.")
        return None
    if len(kept) < len(test_records):
        echo(f"Warning: {len(test_records) - len(kept)} test image(s) could not be read and are left out.")
    records = [test_records[i] for i in kept]
    echo(f"  scoring {len(kept)} test images...")
    probabilities = predict_in_batches(classifier, inputs)
    true = np.array([r.label_index for r in records])
    result = evaluate.evaluate(probabilities, true, list(labels), [r.relpath for r in records])
    echo(evaluate.format_summary(result, print_misclassified, train_counts))
    echo("Writing evaluation.json, per_class_accuracy.csv and the pictures (confusion matrix, misclassified)...")
    shown = evaluate.pick_misclassified(result.misclassified, GRID_IMAGES)
    position = {r.relpath: i for i, r in enumerate(records)}
    evaluate.write_evaluation(result, out_dir, misclassified_images=[inputs[position[m.name]] for m in shown],
                              shown=shown, train_counts=train_counts)
    _write_confusion_examples(result, inputs, position, out_dir)
    if family == "native":  # the native family's own summary file, kept under its old name
        from common.atomic import write_json
        write_json({"map_at_3": result.map3, "top1": result.top1, "top5": result.top5,
                    "macro_top1": result.macro_top1,
                    "test_drawings": len(records)}, os.path.join(out_dir, "native_evaluation.json"))
    if panel:
        from retrain.evaluation.panel import report_panel
        echo("Rendering panel: the test drawings drawn the other ways an app may draw them...")
        report_panel(classifier, records, input_size, out_dir, echo, family=family)
    return result


def _write_confusion_examples(result, inputs, position: dict, out_dir: str) -> None:
    """confusion_examples.png: the top confusions, each with a few of its test drawings."""
    from retrain.evaluation import plots
    from retrain.model_folder.contract import atomic_write_bytes
    rows = []
    for pair in result.top_confusions(CONFUSION_PAIRS):
        names = [m.name for m in result.misclassified
                 if m.true_label == pair.true_label and m.predicted_label == pair.predicted_label]
        rows.append((pair, [inputs[position[name]] for name in names[:EXAMPLES_PER_PAIR]]))
    atomic_write_bytes(os.path.join(out_dir, CONFUSION_EXAMPLES_PNG), plots.plot_confusion_examples(rows))


def summary_json(result) -> Optional[dict]:
    """The headline numbers of an EvaluationResult (None stays None)."""
    if result is None:
        return None
    return {"top1": result.top1, "macro_top1": result.macro_top1, "top5": result.top5, "map3": result.map3}


def existing(out_dir: str, name: str) -> Optional[str]:
    path = os.path.join(out_dir, name)
    return path if os.path.exists(path) else None
