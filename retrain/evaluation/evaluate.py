"""Final test evaluation: top-1/top-5, MAP@3, per-class accuracy, confusion matrix, misclassified images.

Above retrain/evaluation/confusions.py's MANY_CLASSES (30) classes the matrix is unreadable, so evaluation.json,
the summary and the picture list the most frequent confusions instead (top_confusions.png).

Pure functions on numpy arrays, so the training pipeline, `qdretrain label_image` and tests all
share them and none of them needs TensorFlow:

    result = evaluate(probabilities, true_indices, labels, names)
    print(format_summary(result, print_misclassified=True))
    paths = write_evaluation(result, output_dir)

`probabilities` is the model's softmax output `[n, C]` (column j is `labels[j]`, the order of
retrained_labels.txt) and `names` identifies each test image (its path, as retrain.py's
`--print_misclassified_test_images` printed it).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from typing import Any, Optional, Sequence

import numpy as np

from retrain.evaluation import confusions
from retrain.evaluation.metrics import calibration, macro_accuracy, map_at_k
from retrain.model_folder.contract import atomic_write_bytes, write_json

TOP_K = 5  # "top-5", as ImageNet reports it; fewer when there are fewer classes.
WEAKEST_SHOWN = 5  # classes listed in the summary: enough to see where to add data.

PER_CLASS_CSV = "per_class_accuracy.csv"
EVALUATION_JSON = "evaluation.json"
CONFUSION_PNG = "confusion_matrix.png"
TOP_CONFUSIONS_PNG = "top_confusions.png"  # instead of CONFUSION_PNG above confusions.MANY_CLASSES
MAP_K = 3  # MAP@3: the Kaggle Quick, Draw! competition's metric
TRAINING_CURVES_PNG = "training_curves.png"
MISCLASSIFIED_PNG = "misclassified.png"
RELIABILITY_PNG = "reliability.png"
# A class is named on screen as weak when its accuracy is below this share of the macro top-1 (or it
# is never predicted): at 69 classes and 50% macro, the 0-15% classes a user meets as "never works".
WEAK_SHARE_OF_MACRO = 1 / 3
WEAK_SHOWN = 12  # weak classes printed with their advice; the rest are counted (all are in evaluation.json)


@dataclasses.dataclass(frozen=True)
class Misclassified:
    """One test image whose top-1 prediction was wrong.

    Attributes:
      name: the image's name as given to `evaluate` (usually its path).
      true_label: its label.
      predicted_label: the label the model ranked first.
      confidence: the probability the model gave `predicted_label`.
      index: its row in the `probabilities` passed to `evaluate` (to find the image again).
    """

    name: str
    true_label: str
    predicted_label: str
    confidence: float
    index: int = -1


# eq=False: a generated __eq__ would compare the confusion arrays with `==` and fail; results are
# compared field by field where needed (tests), never as a whole.
@dataclasses.dataclass(frozen=True, eq=False)
class EvaluationResult:
    """What `evaluate` measured.

    Attributes:
      top1: fraction of images whose highest-probability label is the true one, in [0, 1].
      top5: fraction whose true label is among the `min(5, C)` most probable ones.
      count: number of images evaluated.
      per_class: label -> {"accuracy": float or None (no images of that label), "count": int,
        "correct": int}, in label order.
      confusion: int64 `[C, C]` counts; rows are true labels, columns predicted ones (label order).
      misclassified: every wrong top-1 prediction, in input order.
      map3: mean average precision at 3 (retrain/evaluation/metrics.py), in [0, 1].
      macro_top1: the mean of per-class top-1 accuracies (classes with test images): what a user
        who draws every class equally often gets; `top1` is the micro (per-drawing) one.
      ece: expected calibration error of the top-1 confidence (metrics.calibration), in [0, 1].
      reliability: the reliability diagram's bins (low, high, count, accuracy, confidence).
    """

    top1: float
    top5: float
    count: int
    per_class: dict[str, dict]
    confusion: np.ndarray
    misclassified: tuple[Misclassified, ...]
    map3: float = float("nan")
    macro_top1: float = float("nan")
    ece: float = float("nan")
    reliability: tuple = ()

    @property
    def labels(self) -> list[str]:
        """The labels, in model output order (the confusion matrix's row/column order)."""
        return list(self.per_class)

    @property
    def many_classes(self) -> bool:
        """Whether this evaluation reports top confusions instead of the matrix (confusions.py)."""
        return confusions.many_classes(len(self.per_class))

    def top_confusions(self, limit: int = confusions.TOP_CONFUSIONS) -> tuple:
        """The most frequent (true, predicted) mistakes, confusions.Confusion each."""
        return confusions.top_confusions(self.confusion, self.labels, limit)

    @property
    def top_k(self) -> int:
        """The k of `top5`: 5, or the number of classes when there are fewer."""
        return min(TOP_K, len(self.per_class))


def _check_inputs(probabilities: np.ndarray, true_indices: np.ndarray, labels: list[str],
                  names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Validates `evaluate`'s arguments; returns them as float64 [n, C] and int64 [n] arrays."""
    probabilities = np.asarray(probabilities)
    true_indices = np.asarray(true_indices)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be a 2-D [images, classes] array, got shape "
                         f"{probabilities.shape}")
    n, num_classes = probabilities.shape
    if n == 0:
        raise ValueError("there are no test images to evaluate: the test split is empty. Add images, "
                         "raise --testing_percentage or set --test_batch_size to -1")
    if num_classes != len(labels):
        raise ValueError(f"probabilities has {num_classes} columns but there are {len(labels)} labels; "
                         "they must be the model's outputs in labels order")
    if len(set(labels)) != len(labels):
        raise ValueError("labels contain duplicates; each model output needs its own label")
    if true_indices.shape != (n,):
        raise ValueError(f"true_indices must have shape ({n},) to match probabilities, got "
                         f"{true_indices.shape}")
    if len(names) != n:
        raise ValueError(f"got {len(names)} names for {n} images; give one name per image")
    if not np.issubdtype(true_indices.dtype, np.integer):
        raise ValueError(f"true_indices must be integer label indices, got dtype {true_indices.dtype}")
    true_indices = true_indices.astype(np.int64)
    if true_indices.min() < 0 or true_indices.max() >= num_classes:
        raise ValueError(f"true_indices must lie in [0, {num_classes - 1}] (one per label), got values "
                         f"from {true_indices.min()} to {true_indices.max()}")
    probabilities = probabilities.astype(np.float64)
    if not np.all(np.isfinite(probabilities)):
        raise ValueError("probabilities contain NaN or infinity; the model diverged (try a lower "
                         "--learning_rate)")
    return probabilities, true_indices


def evaluate(probabilities: np.ndarray, true_indices: np.ndarray, labels: list[str],
             names: list[str]) -> EvaluationResult:
    """Scores a model's test predictions.

    Ties are broken towards the lower label index (as `np.argmax` does), the same way for top-1
    and top-k, so a prediction counted correct at top-1 is always correct at top-k.

    Args:
      probabilities: `[n, C]` scores (softmax outputs, or any scores where higher is more likely);
        column j belongs to `labels[j]`.
      true_indices: `[n]` integer index into `labels` of each image's true label.
      labels: the C labels, in model output order.
      names: `n` image names (paths), used to list misclassified images.

    Returns:
      An EvaluationResult.

    Raises:
      ValueError: n == 0 (empty test set), shapes that do not match, indices out of range, or
        non-finite probabilities. The message says which.
    """
    probabilities, true_indices = _check_inputs(probabilities, true_indices, labels, names)
    n, num_classes = probabilities.shape
    k = min(TOP_K, num_classes)

    predicted = np.argmax(probabilities, axis=1)  # first of equal maxima: the lower index
    top1_hits = predicted == true_indices
    # The true label's rank, with ties ordered by index as argmax orders them: the labels scored
    # higher, plus equal-scored ones before it. O(n*C), no sort; rank 0 is exactly top-1.
    true_scores = probabilities[np.arange(n), true_indices][:, None]
    before = np.arange(num_classes)[None, :] < true_indices[:, None]
    rank = np.sum(probabilities > true_scores, axis=1) + np.sum(
        (probabilities == true_scores) & before, axis=1)
    topk_hits = rank < k

    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (true_indices, predicted), 1)

    per_class: dict[str, dict] = {}
    for index, label in enumerate(labels):
        count = int(confusion[index].sum())
        correct = int(confusion[index, index])
        per_class[label] = {"accuracy": correct / count if count else None, "count": count,
                            "correct": correct}

    misclassified = tuple(
        Misclassified(name=str(names[i]), true_label=labels[true_indices[i]],
                      predicted_label=labels[predicted[i]],
                      confidence=float(probabilities[i, predicted[i]]), index=int(i))
        for i in np.flatnonzero(~top1_hits))

    ece, reliability = calibration(probabilities, true_indices)
    return EvaluationResult(top1=float(top1_hits.mean()), top5=float(topk_hits.mean()), count=n,
                            per_class=per_class, confusion=confusion, misclassified=misclassified,
                            map3=map_at_k(probabilities, true_indices, MAP_K),
                            macro_top1=macro_accuracy(per_class), ece=ece, reliability=tuple(reliability))


def weakest_classes(result: EvaluationResult, how_many: int = WEAKEST_SHOWN) -> list[tuple[str, dict]]:
    """The `how_many` labels with the lowest accuracy (labels with no test images left out).

    Ties go to the label with more test images (its accuracy is the better-measured one), then
    label order.
    """
    scored = [(label, stats) for label, stats in result.per_class.items() if stats["count"]]
    scored.sort(key=lambda item: (item[1]["accuracy"], -item[1]["count"]))
    return scored[:how_many]


@dataclasses.dataclass(frozen=True)
class WeakClass:
    """A class a user will find broken: accuracy below WEAK_SHARE_OF_MACRO of the macro top-1, or
    never predicted.

    Attributes:
      label, accuracy, test_count: the class and how it scored on its test drawings.
      never_predicted: no test drawing of any class was predicted as it.
      train_count: its training drawings (None when the caller did not say).
      confused_with, confused_share: the class its drawings are most often taken for, and the share.
      advice: what to do about it, one sentence (its own hints, then what training can do).
      hints: the hints about this class alone (the screen shows them; "what helps" comes once).
    """
    label: str
    accuracy: float
    test_count: int
    never_predicted: bool
    train_count: Optional[int]
    confused_with: Optional[str]
    confused_share: float
    advice: str
    hints: tuple = ()


# What training can do for weak classes, whatever the family (the evaluation does not know the run's
# options: the native default, --class_weighting sqrt, is already half way to balanced).
TRAINING_HELP = ("--class_balanced (native nets: every class equally often; the default "
                 "--class_weighting sqrt is half way) or --class_weights balanced (TF-Hub heads), and training "
                 "longer (--epochs, --how_many_training_steps)")


def weak_classes(result: EvaluationResult, train_counts: Optional[dict] = None,
                 share_of_macro: float = WEAK_SHARE_OF_MACRO) -> list[WeakClass]:
    """The classes to warn about, worst first (see WeakClass), each with its top confusion and advice.

    Args:
      result: what `evaluate` returned.
      train_counts: label -> training drawings, to tell "too few drawings" from "looks like another".
      share_of_macro: the threshold as a share of the macro top-1.
    """
    train_counts = train_counts or {}
    predicted = result.confusion.sum(axis=0)
    known = sorted(v for v in train_counts.values() if v) if train_counts else []
    median = known[len(known) // 2] if known else None
    threshold = share_of_macro * (0.0 if math.isnan(result.macro_top1) else result.macro_top1)
    weak = []
    for index, (label, stats) in enumerate(result.per_class.items()):
        if not stats["count"]:
            continue
        never = predicted[index] == 0
        if not (never or stats["accuracy"] < threshold):
            continue
        row = result.confusion[index].astype(np.float64).copy()
        row[index] = 0
        other = int(np.argmax(row)) if row.sum() else None
        share = float(row[other] / stats["count"]) if other is not None else 0.0
        count = train_counts.get(label)
        advice = []
        if count is not None and median and count < median / 2:
            advice.append(f"collect more drawings of it ({count} for training, the median class has {median})")
        if other is not None and share >= 0.3:
            advice.append(f"mostly taken for {result.labels[other]!r}: compare the two in top_confusions.png "
                          f"(`qdretrain audit` finds mislabelled drawings)")
        weak.append(WeakClass(label, float(stats["accuracy"]), int(stats["count"]), bool(never), count,
                              result.labels[other] if other is not None else None, share,
                              "; ".join([*advice, "train with " + TRAINING_HELP]) + ".", tuple(advice)))
    weak.sort(key=lambda w: (w.accuracy, -w.test_count))
    return weak


def format_weak_classes(weak: Sequence[WeakClass], macro_top1: float) -> list[str]:
    """The on-screen warning: each weak class (worst first, at most WEAK_SHOWN) with its training count
    and top confusion on one line, its own hint after it, then what helps them all."""
    if not weak:
        return []
    lines = [f"Warning: {len(weak)} class(es) a user will find broken (below "
             f"{100 * WEAK_SHARE_OF_MACRO * macro_top1:.0f}% = a third of the macro top-1, or never predicted):"]
    width = max(len(w.label) for w in weak[:WEAK_SHOWN])
    for w in weak[:WEAK_SHOWN]:
        trained = f"{w.train_count} training drawings" if w.train_count is not None else "training count unknown"
        confused = f", taken for {w.confused_with!r} {100 * w.confused_share:.0f}%" if w.confused_with else ""
        never = ", never predicted" if w.never_predicted else ""
        hint = "; ".join(w.hints)
        lines.append(f"  {w.label:<{width}}  {_percent(w.accuracy):>6} of {w.test_count} test drawings{never}"
                     f"{confused} ({trained}){f' -> {hint}' if hint else ''}")
    if len(weak) > WEAK_SHOWN:
        lines.append(f"  ... and {len(weak) - WEAK_SHOWN} more: evaluation.json's \"weak_classes\", "
                     f"per_class_accuracy.csv (worst first).")
    lines.append(f"  What helps: {TRAINING_HELP}; more drawings of the small classes.")
    return lines


def _percent(value: Optional[float]) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def format_summary(result: EvaluationResult, print_misclassified: bool,
                   train_counts: Optional[dict] = None) -> str:
    """The text the CLI prints after training.

    Args:
      result: what `evaluate` returned.
      print_misclassified: also list each misclassified image as "name  true -> predicted (conf)",
        like retrain.py's `--print_misclassified_test_images`.
      train_counts: label -> training drawings, shown beside each weak class.

    Returns:
      Several lines, without a trailing newline.
    """
    lines = [f"Final test accuracy = {_percent(result.top1)} top-1, {_percent(result.macro_top1)} macro top-1 "
             f"(per-class mean), {_percent(result.top5)} top-{result.top_k}, MAP@{MAP_K} "
             f"{_percent(result.map3)} (N={result.count}, {len(result.misclassified)} misclassified)",
             f"Calibration: expected calibration error {_percent(result.ece)} (reliability.png)"]
    weakest = weakest_classes(result)
    if weakest:
        lines.append("Weakest classes:")
        width = max(len(label) for label, _ in weakest)
        for label, stats in weakest:
            lines.append(f"  {label:<{width}}  {_percent(stats['accuracy']):>6}  "
                         f"({stats['correct']}/{stats['count']})")
    empty = [label for label, stats in result.per_class.items() if not stats["count"]]
    if empty:
        lines.append(f"No test images for: {', '.join(empty)}")
    lines += format_weak_classes(weak_classes(result, train_counts), result.macro_top1)
    if result.many_classes:
        lines.append(f"Most frequent confusions ({len(result.per_class)} classes: too many for a matrix):")
        lines += confusions.format_table(result.top_confusions(confusions.SUMMARY_CONFUSIONS))
    if print_misclassified:
        lines.append("=== MISCLASSIFIED TEST IMAGES ===")
        if not result.misclassified:
            lines.append("  (none)")
        width = max((len(m.name) for m in result.misclassified), default=0)
        for m in result.misclassified:
            lines.append(f"  {m.name:<{width}}  {m.true_label} -> {m.predicted_label} "
                         f"({m.confidence:.2f})")
    return "\n".join(lines)


def pick_misclassified(misclassified, limit: int = 32) -> list:
    """Up to `limit` misses for the grid, spread over the true classes: round-robin over classes (in
    label order), each class's most confident misses first — so later classes appear too, and the
    worst mistakes lead.

    Args:
      misclassified: `EvaluationResult.misclassified`.
      limit: at most this many.

    Returns:
      The chosen items.
    """
    by_class: dict[str, list] = {}
    for item in misclassified:
        by_class.setdefault(item.true_label, []).append(item)
    queues = [sorted(items, key=lambda m: -m.confidence) for _, items in sorted(by_class.items())]
    chosen = []
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    return chosen


def misclassified_title(item: Misclassified) -> str:
    """The caption of one image in the misclassified grid: "true -> predicted (confidence)", then the
    image's name (as in splits.json), so the file can be found from the picture."""
    return f"{item.true_label} -> {item.predicted_label} ({item.confidence:.2f})\n{item.name}"


def to_json(result: EvaluationResult, train_counts: Optional[dict] = None) -> dict[str, Any]:
    """The contents of evaluation.json: plain JSON types only.

    Above confusions.MANY_CLASSES classes, "top_confusions" replaces the [C, C] "confusion" matrix
    (at 344 classes 118k mostly-zero numbers; "misclassified" still holds every wrong pair).
    """
    data = {
        "top1": result.top1,
        "top5": result.top5,
        "top_k": result.top_k,
        f"map_at_{MAP_K}": result.map3,
        "macro_top1": result.macro_top1,
        "expected_calibration_error": result.ece,
        "reliability": [dict(zip(("low", "high", "count", "accuracy", "confidence"), b))
                        for b in result.reliability],
        "per_class_worst_first": [label for label, _ in weakest_classes(result, len(result.per_class))],
        "weak_classes": [dataclasses.asdict(w) for w in weak_classes(result, train_counts)],
        "count": result.count,
        "labels": result.labels,
        "per_class": result.per_class,
    }
    if result.many_classes:
        data["top_confusions"] = [dataclasses.asdict(p) for p in result.top_confusions()]
    else:
        data["confusion"] = result.confusion.tolist()
    data["misclassified"] = [dataclasses.asdict(m) for m in result.misclassified]
    return data


def _per_class_csv(result: EvaluationResult) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label", "count", "correct", "accuracy"])
    # Worst first (the classes to act on lead), classes without test images last.
    ranked = weakest_classes(result, len(result.per_class))
    ranked += [(label, stats) for label, stats in result.per_class.items() if not stats["count"]]
    for label, stats in ranked:
        accuracy = "" if stats["accuracy"] is None else f"{stats['accuracy']:.6f}"
        writer.writerow([label, stats["count"], stats["correct"], accuracy])
    return buffer.getvalue().encode("utf-8")


def write_evaluation(result: EvaluationResult, output_dir: str, *,
                     history: Optional[dict[str, list[float]]] = None,
                     steps: Optional[list[int]] = None,
                     misclassified_images: Optional[Sequence[np.ndarray]] = None,
                     shown: Optional[Sequence] = None, train_counts: Optional[dict] = None) -> dict[str, str]:
    """Writes the evaluation files into `output_dir` (created if needed), each atomically.

    Args:
      result: what `evaluate` returned.
      output_dir: the run's output folder.
      history, steps: the training history (see `plots.plot_training_curves`); when given,
        training_curves.png is written too.
      misclassified_images: pixels of the first `len(misclassified_images)` entries of
        `result.misclassified`, in that order (HxWx3 uint8, or float in [-1, 1]); when given,
        misclassified.png is written too (an image saying "none" if nothing was misclassified).
        The grid draws at most `plots.MAX_GRID_IMAGES`, so there is no need to load more. An
        empty list while some images were misclassified is treated as None (no grid written).
      shown: the `result.misclassified` entries the images show, in order (default: the first ones),
        e.g. `pick_misclassified`'s choice.
      train_counts: label -> training drawings (evaluation.json's weak classes carry them).

    Returns:
      {"per_class_csv", "evaluation_json", "confusion_matrix_png" (or "top_confusions_png" above
      confusions.MANY_CLASSES classes)[, "training_curves_png"][, "misclassified_png"]} -> the path
      written.

    Raises:
      ValueError: only one of history/steps given, more images than misclassified entries, or
        what the plot functions raise for malformed input.
    """
    from retrain.evaluation import plots  # matplotlib: loaded only when there is something to draw

    if (history is None) != (steps is None):
        raise ValueError("give history and steps together (one value per step in each series)")
    if misclassified_images is not None and len(misclassified_images) > len(result.misclassified):
        raise ValueError(f"got {len(misclassified_images)} misclassified images for "
                         f"{len(result.misclassified)} misclassified entries")

    paths = {
        "per_class_csv": os.path.join(output_dir, PER_CLASS_CSV),
        "evaluation_json": os.path.join(output_dir, EVALUATION_JSON),
    }
    # Render everything first, so malformed input fails before any file is replaced.
    contents = {"per_class_csv": _per_class_csv(result)}
    paths["reliability_png"] = os.path.join(output_dir, RELIABILITY_PNG)
    contents["reliability_png"] = plots.plot_reliability(result.reliability, result.ece)
    if result.many_classes:
        paths["top_confusions_png"] = os.path.join(output_dir, TOP_CONFUSIONS_PNG)
        contents["top_confusions_png"] = plots.plot_top_confusions(result.top_confusions(), len(result.labels))
    else:
        paths["confusion_matrix_png"] = os.path.join(output_dir, CONFUSION_PNG)
        contents["confusion_matrix_png"] = plots.plot_confusion_matrix(result.confusion, result.labels)
    if history is not None:
        paths["training_curves_png"] = os.path.join(output_dir, TRAINING_CURVES_PNG)
        contents["training_curves_png"] = plots.plot_training_curves(history, steps)
    if misclassified_images is not None and (len(misclassified_images) or not result.misclassified):
        paths["misclassified_png"] = os.path.join(output_dir, MISCLASSIFIED_PNG)
        items = list(shown) if shown is not None else result.misclassified[:len(misclassified_images)]
        titles = [misclassified_title(item) for item in items]
        contents["misclassified_png"] = plots.plot_misclassified_grid(list(misclassified_images), titles,
                                                                      total=len(result.misclassified))
    write_json(to_json(result, train_counts), paths["evaluation_json"])
    for key, data in contents.items():
        atomic_write_bytes(paths[key], data)
    # A rerun into the same folder with another class count must not leave the other picture behind,
    # describing an older model.
    stale = os.path.join(output_dir, CONFUSION_PNG if result.many_classes else TOP_CONFUSIONS_PNG)
    if os.path.exists(stale):
        os.remove(stale)
    return paths
