"""Evaluation pictures, returned as PNG bytes: confusion matrix (or top confusions), training curves,
misclassified grid.

Each function draws on its own `matplotlib.figure.Figure` rendered by the Agg canvas, never through
pyplot: no global figure state, no GUI backend chosen for the whole process (so this works on a
headless training machine and inside threads), and nothing left open afterwards. Callers write the
bytes themselves, e.g. with `retrain.model_folder.contract.atomic_write_bytes`, so no PNG is ever half-written.
"""

from __future__ import annotations

import io
import math
import textwrap
from typing import Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110
ANNOTATE_MAX_CLASSES = 30  # beyond this, cell counts are too small to read
TICK_LABELS_MAX_CLASSES = 150  # beyond this, label names overlap whatever the font size
LABEL_MAX_CHARS = 24  # longer labels are shortened with an ellipsis on the axes
MAX_GRID_IMAGES = 64  # a grid of thousands of thumbnails is unreadable and slow to draw


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # bbox_inches="tight" as well as the constrained layout: with an equal-aspect image (the confusion
    # matrix) the layout alone can leave long tick labels or the axis label outside the canvas.
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white", bbox_inches="tight",
                   pad_inches=0.15)
    return buffer.getvalue()


def _message_png(message: str, width: float = 4.0, height: float = 1.5) -> bytes:
    """A small PNG that only says `message` (for "nothing to draw" cases)."""
    figure = new_figure(width, height)
    figure.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, wrap=True)
    return png_bytes(figure)


def _short(label: str, limit: int = LABEL_MAX_CHARS) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "\u2026"


def plot_confusion_matrix(confusion: np.ndarray, labels: Sequence[str]) -> bytes:
    """Draws a confusion matrix, each row normalised by its true-class count.

    Colour is the fraction of a true class's images given each predicted label, so classes with few
    test images read the same as large ones; with up to 30 classes each non-zero cell also shows its
    raw count. The figure grows with the number of classes and long names are shortened.

    Args:
      confusion: `[C, C]` counts, rows true labels, columns predicted labels.
      labels: the C labels, in the matrix's order.

    Returns:
      PNG bytes.

    Raises:
      ValueError: `confusion` is not square, does not match `labels`, or has negative entries.
    """
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square [C, C] matrix, got shape {confusion.shape}")
    num_classes = confusion.shape[0]
    if num_classes != len(labels):
        raise ValueError(f"confusion is {num_classes}x{num_classes} but there are {len(labels)} labels")
    if num_classes == 0:
        return _message_png("No classes: nothing to draw")
    if np.any(confusion < 0):
        raise ValueError("confusion holds negative counts; pass counts, not a normalised matrix")

    row_totals = confusion.sum(axis=1, keepdims=True)
    # A class with no test images gets an empty (white) row rather than a division by zero.
    fractions = np.divide(confusion, row_totals, out=np.zeros(confusion.shape, dtype=np.float64),
                          where=row_totals > 0)

    show_names = num_classes <= TICK_LABELS_MAX_CLASSES
    # Big enough for the names to fit; with no names shown, a larger picture only adds bytes.
    side = float(np.clip(3.0 + 0.42 * num_classes, 5.5, 30.0)) if show_names else 12.0
    figure = new_figure(side + 1.4, side)  # the extra width holds the colour bar
    axes = figure.add_subplot()
    image = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.03, shrink=0.8)
    colorbar.set_label("fraction of the true class's images")

    accuracy = np.trace(confusion) / max(int(confusion.sum()), 1)
    axes.set_title(f"Confusion matrix ({int(confusion.sum())} images, top-1 {100 * accuracy:.1f}%)")
    axes.set_xlabel("Predicted label")
    axes.set_ylabel("True label")

    if show_names:
        font = 10 if num_classes <= 20 else max(4.0, 10 - (num_classes - 20) / 10)
        ticks = np.arange(num_classes)
        names = [_short(str(label)) for label in labels]
        axes.set_xticks(ticks, names, rotation=45, ha="right", rotation_mode="anchor", fontsize=font)
        # The true label's count goes with its name, so thin rows are visible as such.
        axes.set_yticks(ticks, [f"{name} ({int(total)})" for name, total in zip(names, row_totals[:, 0])],
                        fontsize=font)
    else:
        axes.set_xticks([])
        axes.set_yticks([])
    # Light grid lines between cells keep rows and columns apart when most cells are white.
    if show_names:
        axes.set_xticks(np.arange(num_classes + 1) - 0.5, minor=True)
        axes.set_yticks(np.arange(num_classes + 1) - 0.5, minor=True)
        axes.grid(which="minor", color="#dddddd", linewidth=0.5)
        axes.tick_params(which="minor", length=0)

    if num_classes <= ANNOTATE_MAX_CLASSES:
        font = 9 if num_classes <= 15 else 7
        for row, col in zip(*np.nonzero(confusion)):
            # White on dark cells, black on light ones: readable whatever the fraction.
            colour = "white" if fractions[row, col] > 0.5 else "black"
            axes.text(col, row, str(int(confusion[row, col])), ha="center", va="center",
                      fontsize=font, color=colour)
    return png_bytes(figure)


def plot_top_confusions(pairs: Sequence, num_classes: int) -> bytes:
    """Horizontal bars of the most frequent confusions (retrain/evaluation/confusions.py), the largest on top:
    what replaces the confusion matrix when there are too many classes to read one.

    Args:
      pairs: confusions.Confusion items, most frequent first (at most ~20 read well).
      num_classes: the evaluation's class count, for the title.

    Returns:
      PNG bytes (a picture saying so when there are no confusions).
    """
    if not pairs:
        return _message_png("No confusions: every test image was classified right")
    figure = new_figure(8.0, 1.2 + 0.32 * len(pairs))
    axes = figure.add_subplot()
    positions = np.arange(len(pairs))[::-1]  # the most frequent at the top
    axes.barh(positions, [p.count for p in pairs], color="#4c72b0")
    axes.set_yticks(positions, [f"{_short(p.true_label)} \u2192 {_short(p.predicted_label)}" for p in pairs],
                    fontsize=9)
    for position, pair in zip(positions, pairs):
        # The share says how much of the true class goes this way: 5 of 10 is worse than 5 of 500.
        axes.text(pair.count, position, f" {pair.count} ({100 * pair.share:.0f}%)", va="center", fontsize=8)
    axes.set_xlim(0, max(p.count for p in pairs) * 1.25)
    axes.set_xlabel("test images (share of the true class)")
    axes.set_title(f"Top {len(pairs)} confusions, true \u2192 predicted ({num_classes} classes)")
    return png_bytes(figure)


def plot_reliability(bins: Sequence, ece: float) -> bytes:
    """The reliability diagram: per confidence bin, accuracy against mean confidence (the diagonal is
    a perfectly calibrated model), with each bin's share of the drawings.

    Args:
      bins: metrics.calibration's (low, high, count, accuracy or None, confidence or None) per bin.
      ece: the expected calibration error, for the title.
    """
    if not bins or not sum(b[2] for b in bins):
        return _message_png("No test drawings: no reliability diagram")
    figure = new_figure(5.5, 5.0)
    axes = figure.add_subplot()
    total = sum(b[2] for b in bins)
    for low, high, count, accuracy, _ in bins:
        if count:
            axes.bar(low, accuracy, width=high - low, align="edge", color="#4c72b0", edgecolor="white")
            axes.text((low + high) / 2, min(accuracy, 0.93) + 0.02, f"{100 * count / total:.0f}%",
                      ha="center", fontsize=6)
    axes.plot([0, 1], [0, 1], "--", color="#c44e52", label="perfect calibration")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("top-1 confidence")
    axes.set_ylabel("top-1 accuracy (label: share of drawings)")
    axes.set_title(f"Reliability (expected calibration error {100 * ece:.1f}%)")
    axes.legend(loc="upper left", fontsize=8)
    return png_bytes(figure)


def _curve_panel(key: str) -> Optional[str]:
    """Which panel a history key belongs on: "accuracy", "loss", or None (not drawn)."""
    lowered = key.lower()
    if "loss" in lowered:
        return "loss"
    if "acc" in lowered:
        return "accuracy"
    return None


def _curve_name(key: str) -> str:
    lowered = key.lower()
    if lowered.startswith(("val_", "validation", "valid_")):
        split = "validation"
    elif lowered.startswith("test"):
        split = "test"
    else:
        split = "train"
    # Keep any qualifier (e.g. "top5") so two accuracy series never share a legend entry.
    rest = lowered
    for prefix in ("validation_", "validation", "valid_", "val_", "train_", "training_", "test_"):
        if rest.startswith(prefix):
            rest = rest[len(prefix):]
            break
    for word in ("accuracy", "acc", "loss"):
        rest = rest.replace(word, "")
    rest = rest.strip("_ ")
    return f"{split} {rest}".strip()


def plot_training_curves(history: dict[str, list[float]], steps: list[int], title: str = "") -> bytes:
    """Draws accuracy and loss against training step, train and validation on the same axes.

    Keys are matched by name, so Keras' ("accuracy", "val_accuracy", "loss", "val_loss") and
    spelled-out ("train_accuracy", "validation_loss", ...) histories both work: a key containing
    "loss" goes on the loss panel, one containing "acc" on the accuracy panel, a "val"/"validation"
    prefix marks validation. Other keys (e.g. a learning rate) are ignored; a missing panel says so.

    Args:
      history: series name -> one value per entry of `steps` (NaN for a step with no value).
      steps: the training step of each value.
      title: what the run was (e.g. the architecture and model folder), after "Training curves".

    Returns:
      PNG bytes.

    Raises:
      ValueError: a drawn series' length differs from `steps`.
    """
    steps_array = np.asarray(steps, dtype=np.float64)
    panels: dict[str, list[tuple[str, np.ndarray]]] = {"accuracy": [], "loss": []}
    for key in sorted(history):
        panel = _curve_panel(key)
        if panel is None:
            continue
        values = np.asarray(history[key], dtype=np.float64)
        if values.shape != steps_array.shape:
            raise ValueError(f"history[{key!r}] has {values.size} values for {steps_array.size} steps; "
                             "record one value per step (NaN where there is none)")
        panels[panel].append((key, values))

    figure = new_figure(11.0, 4.2)
    for position, (panel, series) in enumerate(panels.items(), start=1):
        axes = figure.add_subplot(1, 2, position)
        axes.set_title(panel.capitalize())
        axes.set_xlabel("Training step")
        axes.grid(True, color="#e5e5e5")
        drawn = [(key, values) for key, values in series if np.any(np.isfinite(values))]
        if not drawn:
            axes.text(0.5, 0.5, f"no {panel} recorded", ha="center", va="center",
                      transform=axes.transAxes, color="#777777")
            axes.set_xticks([])
            axes.set_yticks([])
            continue
        for key, values in drawn:
            name = _curve_name(key)
            finite = np.isfinite(values)
            # Dashed train lines, solid validation: the one to judge the model by stands out.
            style = "-" if name.startswith(("validation", "test")) else "--"
            # Draw only the finite points so a series logged every Nth step is a line, not dots.
            axes.plot(steps_array[finite], values[finite], style, label=name,
                      marker="o" if finite.sum() == 1 else None, linewidth=1.6)
        if panel == "accuracy" and all(np.nanmax(v) <= 1.0 and np.nanmin(v) >= 0.0 for _, v in drawn):
            axes.set_ylim(0.0, 1.02)
            axes.yaxis.set_major_formatter(lambda value, _: f"{100 * value:.0f}%")
        axes.legend(loc="best", fontsize=9)
    figure.suptitle("Training curves: accuracy and loss per training step" + (f"\n{title}" if title else ""),
                    fontsize=11)
    return png_bytes(figure)


def plot_confusion_examples(rows: Sequence[tuple]) -> bytes:
    """The top confusions with example drawings: one row per (true, predicted) pair, its title the pair
    and its share, then a few test drawings of the true class that the model took for the other.

    Args:
      rows: (confusions.Confusion, [images]) per pair, most frequent first; images as the misclassified
        grid takes them (HxWx3 uint8 or float in [-1, 1]).
    """
    rows = [(pair, images) for pair, images in rows if len(images)]
    if not rows:
        return _message_png("No confusions: every test image was classified right")
    columns = max(len(images) for _, images in rows)
    figure = new_figure(1.4 * columns + 3.2, 1.5 * len(rows) + 0.4)
    for r, (pair, images) in enumerate(rows):
        label = figure.add_subplot(len(rows), columns + 2, r * (columns + 2) + 1)
        label.axis("off")
        label.text(0.0, 0.5, f"{_short(pair.true_label)}\n\u2192 {_short(pair.predicted_label)}\n"
                             f"{pair.count} ({100 * pair.share:.0f}%)", va="center", fontsize=8)
        for c, image in enumerate(images):
            axes = figure.add_subplot(len(rows), columns + 2, r * (columns + 2) + 3 + c)
            axes.imshow(_displayable(image, c), cmap="gray", vmin=0, vmax=255)
            axes.axis("off")
    figure.suptitle("Top confusions, true \u2192 predicted, with test drawings of each pair", fontsize=10)
    return png_bytes(figure)


def _displayable(image: np.ndarray, position: int) -> np.ndarray:
    """An image as matplotlib draws it: uint8 HxW or HxWx3. Floats are taken to be in [-1, 1]."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise ValueError(f"images[{position}] has shape {image.shape}; expected HxWx3 (or HxW) pixels")
    if np.issubdtype(image.dtype, np.floating):
        # The models' input convention: (pixel - 127.5) / 127.5.
        image = np.round((np.clip(image, -1.0, 1.0) + 1.0) * 127.5)
    return np.clip(image, 0, 255).astype(np.uint8)


def plot_misclassified_grid(images: list[np.ndarray], titles: list[str], columns: int = 8,
                            max_images: int = MAX_GRID_IMAGES, total: Optional[int] = None) -> bytes:
    """Draws images in a grid, each under its title (e.g. "cat -> owl (0.93)").

    Args:
      images: HxWx3 (or HxW) pixels, uint8 in [0, 255] or float in [-1, 1] (the models' input).
      titles: one title per image; long ones are wrapped.
      columns: images per row.
      max_images: only the first this many are drawn; the heading says how many were left out.
      total: how many misses there were in all, when `images` is already a selection of them.

    Returns:
      PNG bytes; with no images, a small PNG saying there were none.

    Raises:
      ValueError: images and titles differ in number, columns < 1, or an image has a bad shape.
    """
    if len(images) != len(titles):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles; give one title per image")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    if not images:
        return _message_png("No misclassified images")

    shown = min(len(images), max(max_images, 1))
    columns = min(columns, shown)
    rows = math.ceil(shown / columns)
    cell = 1.7  # inches per thumbnail: 28x28 drawings stay crisp
    # Captions are wrapped, never cut (a file name must stay whole to be found); rows grow to fit.
    wrapped = ["\n".join(line for part in str(titles[p]).split("\n")
                         for line in textwrap.wrap(part, 24, break_on_hyphens=False) or [""])
               for p in range(shown)]
    caption_lines = max(text.count("\n") + 1 for text in wrapped)
    figure = new_figure(columns * cell, rows * (cell + 0.14 * caption_lines + 0.1) + 0.5)
    heading = "Misclassified test images (true -> predicted, confidence; then the image's name in splits.json)"
    total = max(total or 0, len(images))
    if shown < total:
        heading += f": {shown} of {total}, spread over the classes, most confident first"
    figure.suptitle(heading, fontsize=11)
    for position in range(shown):
        axes = figure.add_subplot(rows, columns, position + 1)
        pixels = _displayable(images[position], position)
        axes.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=255,
                    interpolation="nearest" if max(pixels.shape[:2]) < 64 else "antialiased")
        axes.set_title(wrapped[position], fontsize=7.5)
        axes.set_xticks([])
        axes.set_yticks([])
    return png_bytes(figure)
