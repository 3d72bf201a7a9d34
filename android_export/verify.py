"""Holding each exported artifact to the trained model, on real held-back images.

For every artifact: the largest absolute difference of its scores from the trained model's, how often its
top-1 label is the same, and its test accuracy. A float artifact (float32 TFLite, frozen graph, ONNX,
SavedModel) must match within a tolerance, because one known conversion path produces wrong outputs with
no error at all; quantized ones are reported (what int8 costs), not failed.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from common.errors import ExportVerificationError

DEFAULT_TOLERANCE = 1e-3  # max |probability difference| for float artifacts; float32 paths give ~1e-6


@dataclasses.dataclass(frozen=True)
class ArtifactCheck:
    """One artifact's verification result.

    Attributes:
      name: format name ("tflite", "tflite_int8", "onnx", ...).
      path: the file or folder checked.
      runtime: what ran it ("LiteRT", "TF1 Session", "onnxruntime", "SavedModel signature").
      precision: "float32" | "float16" | "dynamic" | "int8".
      held_to_tolerance: True for float artifacts (a mismatch fails the export).
      size_bytes: file (or folder) size.
      max_abs_diff: largest |score - trained model's score| over all images and classes.
      top1_agreement: fraction of images whose top-1 label equals the trained model's.
      accuracy: top-1 accuracy on the labelled images (None without labels).
      passed: within tolerance (always True for artifacts not held to it).
    """

    name: str
    path: str
    runtime: str
    precision: str
    held_to_tolerance: bool
    size_bytes: int
    max_abs_diff: float
    top1_agreement: float
    accuracy: Optional[float]
    passed: bool


def compare(reference: np.ndarray, scores: np.ndarray, label_indices: Optional[np.ndarray] = None):
    """(max_abs_diff, top1_agreement, accuracy or None) of `scores` against `reference` [n, classes].

    Raises:
      ExportVerificationError: the shapes differ (wrong output tensor, wrong label count).
    """
    if reference.shape != scores.shape:
        raise ExportVerificationError(
            f"The artifact returns scores of shape {scores.shape}, the trained model {reference.shape}: "
            f"it is not the same classifier (wrong output tensor?). Re-export it.")
    if len(reference) == 0:
        return 0.0, 1.0, None
    max_abs_diff = float(np.max(np.abs(reference.astype(np.float64) - scores.astype(np.float64))))
    if not np.all(np.isfinite(scores)):
        max_abs_diff = float("inf")
    agreement = float(np.mean(np.argmax(reference, 1) == np.argmax(scores, 1)))
    accuracy = None
    if label_indices is not None and len(label_indices) and np.all(label_indices >= 0):
        accuracy = float(np.mean(np.argmax(scores, 1) == label_indices))
    return max_abs_diff, agreement, accuracy


def check(name: str, path: str, runtime: str, precision: str, size_bytes: int, reference: np.ndarray,
          scores: np.ndarray, label_indices: Optional[np.ndarray], tolerance: float) -> ArtifactCheck:
    """Builds the ArtifactCheck for one artifact's scores (see `compare`)."""
    held = precision == "float32"
    max_abs_diff, agreement, accuracy = compare(reference, scores, label_indices)
    return ArtifactCheck(name=name, path=path, runtime=runtime, precision=precision, held_to_tolerance=held,
                         size_bytes=size_bytes, max_abs_diff=max_abs_diff, top1_agreement=agreement,
                         accuracy=accuracy, passed=(not held) or max_abs_diff <= tolerance)


def failures(checks: Sequence[ArtifactCheck]) -> list[ArtifactCheck]:
    return [c for c in checks if not c.passed]


def failure_message(failed: Sequence[ArtifactCheck], tolerance: float) -> str:
    lines = ["Export verification FAILED: these float artifacts do not give the trained model's answers "
             f"(tolerance {tolerance:g} on probabilities):"]
    for c in failed:
        lines.append(f"  {c.name} ({c.path}, run by {c.runtime}): max |diff| {c.max_abs_diff:.3g}, "
                     f"top-1 agreement {c.top1_agreement:.1%}")
    lines.append("Failed files were renamed to *.failed so no app picks them up (a SavedModel stays in "
                 "place). Do not ship them; re-run the export, and report it if it fails again.")
    return "\n".join(lines)


def _fmt_size(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def format_table(checks: Sequence[ArtifactCheck], reference_accuracy: Optional[float], count: int) -> str:
    """A text table: artifact, runtime, size, max |diff|, agreement, accuracy, verdict."""
    acc = "n/a" if reference_accuracy is None else f"{reference_accuracy:.1%}"
    lines = [f"Checked on {count} held-back images; trained model accuracy {acc}.",
             f"{'artifact':16s} {'runtime':22s} {'size':>10s} {'max|diff|':>10s} {'top-1 agree':>11s} "
             f"{'accuracy':>9s}  verdict"]
    for c in checks:
        accuracy = "n/a" if c.accuracy is None else f"{c.accuracy:.1%}"
        verdict = ("ok" if c.passed else "FAILED") if c.held_to_tolerance else "report"
        lines.append(f"{c.name:16s} {c.runtime:22s} {_fmt_size(c.size_bytes):>10s} {c.max_abs_diff:10.2e} "
                     f"{c.top1_agreement:11.1%} {accuracy:>9s}  {verdict}")
    return "\n".join(lines)


def quantization_report(checks: Sequence[ArtifactCheck]) -> list[dict]:
    """Size, accuracy and agreement of each TFLite precision against the float32 TFLite model."""
    tflite = {c.precision: c for c in checks if c.name.startswith("tflite")}
    base = tflite.get("float32")
    rows = []
    for precision in ("float32", "float16", "dynamic", "int8"):
        c = tflite.get(precision)
        if c is None:
            continue
        rows.append({
            "precision": precision, "file": c.path, "size_bytes": c.size_bytes,
            "size_vs_float32": (c.size_bytes / base.size_bytes) if base else None,
            "accuracy": c.accuracy,
            "accuracy_change_vs_float32": (c.accuracy - base.accuracy)
            if base and c.accuracy is not None and base.accuracy is not None else None,
            "top1_agreement_with_trained_model": c.top1_agreement, "max_abs_diff": c.max_abs_diff,
        })
    return rows


# A quantized artifact this many points below float32 on the test images gets a warning on screen: the
# file still works, but an app shipping it gets a worse model than training reported.
QUANTIZATION_WARN_POINTS = 2.0


def quantization_warnings(rows: list[dict]) -> list[str]:
    """One line per quantized TFLite file that loses more than QUANTIZATION_WARN_POINTS of top-1."""
    base = next((r for r in rows if r["precision"] == "float32"), None)
    lines = []
    for r in rows:
        change = r["accuracy_change_vs_float32"]
        if r["precision"] == "float32" or change is None or -100 * change <= QUANTIZATION_WARN_POINTS:
            continue
        name = os.path.basename(r["file"])
        lines.append(f"Warning: {name} is {-100 * change:.1f} points less accurate than float32 "
                     f"({r['accuracy']:.1%} vs {base['accuracy']:.1%} on the test images): an app shipping it "
                     f"gets the worse model. Ship {os.path.basename(base['file'])} or a float16 file instead, "
                     f"or retrain without what quantizes badly (e.g. --pooling gem).")
    return lines


def format_quantization_report(rows: list[dict]) -> str:
    lines = ["Quantization report (TFLite, against the trained float model):",
             f"{'precision':10s} {'size':>10s} {'x float32':>9s} {'accuracy':>9s} {'change':>8s} {'agreement':>10s}"]
    for r in rows:
        ratio = "" if r["size_vs_float32"] is None else f"{r['size_vs_float32']:.2f}"
        acc = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
        change = "" if r["accuracy_change_vs_float32"] is None else f"{100 * r['accuracy_change_vs_float32']:+.1f}pt"
        lines.append(f"{r['precision']:10s} {_fmt_size(r['size_bytes']):>10s} {ratio:>9s} {acc:>9s} {change:>8s} "
                     f"{r['top1_agreement_with_trained_model']:10.1%}")
    return "\n".join(lines)
