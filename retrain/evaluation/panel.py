"""The rendering panel: test accuracy under the ways an app really brings a drawing to the model.

One number on the training rendering hides "accurate on my PC, wrong on the phone". Each row re-draws
the test split's drawings another way, feeds them through the same preprocessing the exported model
expects (retrain/data/images.py's bilinear resize to the input size), and reports top-1:

  training         the canonical rendering (the drawing contract, what training saw)
  bitmap_<filter>  the 28x28 bitmap scaled straight to the input size by nearest / bilinear / lanczos
  canvas_<width>   strokes drawn on a 512-px phone-like canvas at 6 / 12 / 24 px (strokes only)
  jpeg_q20         the training rendering saved as a quality-20 JPEG

Image files (an --image_dir of converted drawings) get the bitmap rows from the image brought down to
28 px, and no canvas rows. The worst row is the number to quote.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image

from convert.drawing import RESAMPLING, DrawingContract, render_strokes

BITMAP_SIDE = 28
CANVAS_SIDE = 512   # a phone view's side, in pixels
CANVAS_WIDTHS = {"thin": 6.0, "medium": 12.0, "thick": 24.0}
JPEG_QUALITY = 20
ROWS = ("training", "bitmap_nearest", "bitmap_bilinear", "bitmap_lanczos",
        "canvas_thin", "canvas_medium", "canvas_thick", f"jpeg_q{JPEG_QUALITY}")
# 28-px bitmaps drawn from strokes, as Google draws numpy_bitmap (box-filtered supersampling).
_BITMAP_CONTRACT = DrawingContract(size=BITMAP_SIDE, resample="box")


@dataclasses.dataclass(frozen=True)
class PanelRow:
    """One rendering's result: name, top-1 accuracy (None when no test drawing has this form), count."""

    name: str
    top1: Optional[float]
    count: int


@dataclasses.dataclass(frozen=True)
class _Source:
    canonical: np.ndarray          # uint8 gray, the training rendering
    bitmap: np.ndarray             # uint8 gray 28x28, black on white
    strokes: Optional[list]        # [xs, ys] per stroke, or None


def _on_canvas(strokes) -> list:
    """Strokes on the 256 canvas placed in the middle 80% of a 512-px phone canvas."""
    scale, offset = 0.8 * CANVAS_SIDE / 256.0, 0.1 * CANVAS_SIDE
    return [[[x * scale + offset for x in xs], [y * scale + offset for y in ys]] for xs, ys in strokes]


def render_row(name: str, source: _Source, input_size: int) -> Optional[np.ndarray]:
    """The uint8 gray image of one panel row for one drawing (None: not applicable).

    Args:
      name: a ROWS entry.
      source: the drawing's renderings (`sources_for`).
      input_size: the model's input side (bitmap rows are scaled straight to it).
    """
    if name == "training":
        return source.canonical
    if name.startswith("bitmap_"):
        image = Image.fromarray(source.bitmap).resize((input_size, input_size), RESAMPLING[name[7:]])
        return np.asarray(image, dtype=np.uint8)
    if name.startswith("canvas_"):
        if source.strokes is None:
            return None
        contract = DrawingContract(size=CANVAS_SIDE, fit="canvas", frame=float(CANVAS_SIDE),
                                   stroke_width=CANVAS_WIDTHS[name[7:]], supersample=2, resample="box")
        return render_strokes(_on_canvas(source.strokes), contract)
    if name.startswith("jpeg_q"):
        buffer = io.BytesIO()
        Image.fromarray(source.canonical).save(buffer, "JPEG", quality=int(name[6:]))
        return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"), dtype=np.uint8)
    raise KeyError(f"unknown panel row {name!r}; rows are {', '.join(ROWS)}")


def sources_for(records: Sequence) -> list[_Source]:
    """Each test record's canonical rendering, 28-px bitmap and strokes (where it has strokes).

    Raises:
      OSError / ValueError / DatasetError: a record cannot be read.
    """
    from retrain.data import quickdraw_source
    out = []
    by_source: dict[str, dict] = {}
    for record in records:
        if record.row is None:
            gray = np.asarray(Image.open(record.source).convert("L"), dtype=np.uint8)
            small = Image.fromarray(gray).resize((BITMAP_SIDE, BITMAP_SIDE), Image.Resampling.BOX)
            out.append(_Source(gray, np.asarray(small, dtype=np.uint8), None))
            continue
        if record.source not in by_source:
            by_source[record.source] = quickdraw_source.read_drawings(
                record.source, [r.row for r in records if r.source == record.source])
        drawing = by_source[record.source][record.row]
        canonical = quickdraw_source.render(drawing)[..., 0]
        if isinstance(drawing, np.ndarray):
            bitmap = 255 - np.asarray(drawing, dtype=np.uint8).reshape(BITMAP_SIDE, BITMAP_SIDE)
            out.append(_Source(canonical, bitmap, None))
        else:
            strokes = [[list(xs), list(ys)] for xs, ys in drawing]
            out.append(_Source(canonical, render_strokes(strokes, _BITMAP_CONTRACT), strokes))
    return out


def run_panel(predict: Callable[[np.ndarray], np.ndarray], records: Sequence, input_size: int,
              rows: Sequence[str] = ROWS, batch_size: int = 64, family: str = "tfhub_head",
              on_row: Optional[Callable[[str, int, int], None]] = None) -> list[PanelRow]:
    """Top-1 of `predict` on every panel row.

    Args:
      predict: float32 model input [b, size, size, 3] in [-1, 1] -> scores [b, classes].
      records: the test records (their label_index is the truth).
      input_size: the model's input side.
      rows: which ROWS to run.
      batch_size: images per predict call.
      family: model_info.json's "family": the "training" row is prepared as training's final
        evaluation prepares its test images (retrain/evaluation/test_images.model_inputs), so the two
        agree exactly.
      on_row: called with (row name, its position from 1, the number of rows) as each row starts, for
        progress (a row renders and scores every test drawing: seconds each).

    Returns:
      One PanelRow per row, in order.
    """
    from retrain.data.images import pixels_to_input
    sources = sources_for(records)
    truth = np.array([r.label_index for r in records])
    result = []
    for position, name in enumerate(rows, 1):
        if on_row is not None:
            on_row(name, position, len(rows))
        if name == "training":
            result.append(_training_row(predict, records, input_size, family, truth, batch_size))
            continue
        images = [(i, render_row(name, s, input_size)) for i, s in enumerate(sources)]
        images = [(i, image) for i, image in images if image is not None]
        if not images:
            result.append(PanelRow(name, None, 0))
            continue
        correct = 0
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            batch = []
            for _, image in chunk:  # every image to the input size first: rows mix sizes
                rgb = np.repeat(image[:, :, None], 3, axis=2)
                batch.append(pixels_to_input(rgb[None], input_size).numpy()[0])
            scores = np.asarray(predict(np.stack(batch)))
            correct += int((scores.argmax(axis=1) == truth[[i for i, _ in chunk]]).sum())
        result.append(PanelRow(name, correct / len(images), len(images)))
    return result


def _training_row(predict, records, input_size: int, family: str, truth, batch_size: int) -> PanelRow:
    from retrain.evaluation.test_images import model_inputs
    kept, inputs = model_inputs(records, input_size, family)
    if not len(kept):
        return PanelRow("training", None, 0)
    # One call: the caller batches as the final evaluation does, so the scores are the same floats.
    predicted = np.asarray(predict(inputs)).argmax(axis=1)
    return PanelRow("training", float((predicted == truth[kept]).mean()), len(kept))


def worst(rows: Sequence[PanelRow]) -> Optional[PanelRow]:
    measured = [r for r in rows if r.top1 is not None]
    return min(measured, key=lambda r: r.top1) if measured else None


def format_panel(rows: Sequence[PanelRow]) -> str:
    """The summary lines: one per row, then the worst one named."""
    lines = ["Test accuracy by rendering (retrain/evaluation/panel.py):"]
    for row in rows:
        shown = f"{100 * row.top1:5.1f}%" if row.top1 is not None else "  n/a (no strokes)"
        lines.append(f"  {row.name:<16} {shown}" + (f"  ({row.count} images)" if row.count else ""))
    low = worst(rows)
    if low is not None:
        lines.append(f"Worst rendering: {low.name} {100 * low.top1:.1f}%")
    return "\n".join(lines)


def to_json(rows: Sequence[PanelRow]) -> dict:
    low = worst(rows)
    return {"rows": {r.name: {"top1": r.top1, "count": r.count} for r in rows},
            "worst": {"name": low.name, "top1": low.top1} if low else None}


# What each row means, in the picture's own words (a reader of the PNG has no docs beside it).
ROW_CAPTIONS = {
    "training": "as trained (the final evaluation's images)",
    "bitmap_nearest": "28-px bitmap, nearest-neighbour upscale",
    "bitmap_bilinear": "28-px bitmap, bilinear upscale",
    "bitmap_lanczos": "28-px bitmap, Lanczos upscale",
    "canvas_thin": "phone canvas, thin strokes",
    "canvas_medium": "phone canvas, medium strokes",
    "canvas_thick": "phone canvas, thick strokes",
    f"jpeg_q{JPEG_QUALITY}": f"JPEG at quality {JPEG_QUALITY}",
}


def plot_panel(rows: Sequence[PanelRow], title: str = "") -> bytes:
    """A bar chart of the panel (PNG bytes): every row with its value on the bar, the worst in red
    (the legend says so), rows with nothing to measure listed as n/a rather than dropped."""
    from retrain.evaluation.plots import new_figure, png_bytes
    figure = new_figure(8.5, 0.45 * len(rows) + 1.8)
    axes = figure.add_subplot()
    low = worst(rows)
    names = [f"{r.name}: {ROW_CAPTIONS.get(r.name, r.name)}" for r in rows]
    values = [100 * r.top1 if r.top1 is not None else 0.0 for r in rows]
    bars = axes.barh(names, values, color=["tab:red" if r is low else "tab:blue" for r in rows])
    for bar, row in zip(bars, rows):
        if row.top1 is None:
            text, x = "n/a (no test drawing has strokes to draw this way)", 1.0
        else:
            text, x = f"{100 * row.top1:.1f}%  ({row.count} images)", bar.get_width() + 1.0
        axes.text(x, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=9)
    axes.set_xlim(0, 125)  # room for the value after a full bar
    axes.set_xticks(range(0, 101, 20))
    axes.invert_yaxis()
    axes.tick_params(axis="y", labelsize=9)
    axes.set_xlabel("test top-1 accuracy (%)")
    figure.suptitle((title or "Test accuracy by rendering: the test drawings drawn the ways an app may "
                              "draw them") + (f"\nred: the worst rendering ({low.name})" if low else ""),
                    fontsize=10)
    return png_bytes(figure)


PANEL_PNG = "rendering_panel.png"


def report_panel(classifier, records: Sequence, input_size: int, output_dir: str,
                 echo: Callable[[str], None], family: str = "tfhub_head") -> list[PanelRow]:
    """Runs the panel with a Keras classifier, prints it, adds it to evaluation.json, plots it.

    Args:
      classifier: float input [-1, 1] -> probabilities (retrain/families/hub_head/model.py's build_classifier).
      records: the test records.
      input_size: the model's input side.
      output_dir: holds evaluation.json (written by retrain/evaluation/evaluate.py first).
      echo: prints a line.
    """
    import os

    from retrain.evaluation.evaluate import EVALUATION_JSON
    from retrain.model_folder.contract import atomic_write_bytes, read_json, write_json
    from retrain.evaluation.test_images import predictor
    rows = run_panel(predictor(classifier), records, input_size, family=family,
                     on_row=lambda name, n, total: echo(f"  panel row {n}/{total}: {name}"))
    echo(format_panel(rows))
    path = os.path.join(output_dir, EVALUATION_JSON)
    data = read_json(path) if os.path.exists(path) else {}
    write_json({**data, "panel": to_json(rows)}, path)
    atomic_write_bytes(os.path.join(output_dir, PANEL_PNG), plot_panel(rows))
    return rows


def split_test_records(model_dir: str, labels: Sequence[str], limit: int) -> list:
    """The model dir's test split (splits.json) as records again, at most `limit`, [] when unavailable."""
    import os

    from retrain.data.dataset import ImageRecord
    from retrain.model_folder.contract import read_json
    path = os.path.join(model_dir, "splits.json")
    if not os.path.exists(path):
        return []
    splits = read_json(path)
    records = []
    for relpath in splits.get("testing", [])[:limit]:
        label = relpath.split("/", 1)[0]
        if label not in labels:
            continue
        if splits.get("quickdraw_dir"):
            name, row = relpath.split("/", 1)[1].rsplit("#", 1)
            root = splits["quickdraw_dir"]
            source = os.path.join(root, name) if os.path.isdir(root) else root
            records.append(ImageRecord(label, list(labels).index(label), relpath, source, int(row)))
        elif splits.get("image_dir"):
            records.append(ImageRecord(label, list(labels).index(label), relpath,
                                       os.path.join(splits["image_dir"], relpath)))
    return [r for r in records if os.path.exists(r.source)]


def export_panels(model_dir: str, labels: Sequence[str], input_size: int, runners: dict,
                  limit: int = 300, echo: Optional[Callable[[str], None]] = None) -> dict:
    """The panel for each exported artifact on the test split: {artifact: to_json(rows)}.

    Args:
      model_dir: a training output dir with splits.json.
      labels: the model's labels.
      input_size: the model's input side.
      runners: {artifact name: runner with .predict(float batch) -> scores}.
      limit: test drawings used (keeps export quick).
      echo: prints a status line per artifact (each panel runs every row on every drawing).
    """
    records = split_test_records(model_dir, labels, limit)
    if not records:
        return {}
    panels = {}
    for name, runner in runners.items():
        if echo is not None:
            echo(f"Rendering panel on {name}: {len(records)} test drawings x {len(ROWS)} renderings...")
        panels[name] = to_json(run_panel(runner.predict, records, input_size))
    return panels
