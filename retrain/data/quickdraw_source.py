"""Reading QuickDraw drawings straight from Google's files, so training needs no JPG folder.

Two layouts, as in Google's download buckets (read by the `convert` package's own readers, so both
paths agree on what a file holds):
  * `.npy` (numpy_bitmap): uint8 (N, 784) — 28x28, 0 = background, 255 = ink;
  * `.ndjson` (simplified): one JSON object a line; `drawing` = [[xs], [ys]] per stroke, 256x256 canvas.

Which drawings: the same seeded choice `qdretrain convert --per_class N --seed S` makes
(convert.sources.select_indices / select_drawings), and the same pixels: convert's default rendering
(convert.render.RenderOptions(): 64x64, black ink on white, Lanczos). Training from `--quickdraw_dir`
therefore sees what training on `qdretrain convert`'s default output sees, minus only the JPEG
compression; both are then resized to the module's input by the same bilinear resize
(retrain/data/images.py). The exported model's input contract does not change.

A record's `row` is the drawing's index in its file: the array row for .npy, the 0-based index among
the non-blank lines for .ndjson.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional, Union

import numpy as np

from convert import sources
from convert import drawing_augment
from convert.drawing import render_strokes as render_by_contract
from convert.render import RenderOptions, contract_for, render_bitmap
from common.errors import DatasetError

# convert's default look (`qdretrain convert` with no rendering options).
RENDER_OPTIONS = RenderOptions()
# Part of every QuickDraw bottleneck key, with RENDER_OPTIONS: bump when rendering changes in a way the
# options do not show, so stale features computed from the old pixels are never reused.
RENDER_VERSION = 2  # 2: strokes drawn by the drawing contract (convert/drawing.py)

Drawing = Union[np.ndarray, tuple]  # a (784,) uint8 bitmap row, or strokes ((xs, ys), ...)


def read_drawings(path: str, rows: Iterable[int]) -> dict[int, Drawing]:
    """Reads some drawings of one file.

    Args:
      path: a .npy or .ndjson QuickDraw file.
      rows: drawing indices (see the module docstring).

    Returns:
      {row: (784,) uint8 bitmap row | strokes tuple}.

    Raises:
      convert.sources.SourceError (a QdretrainError): the file is unreadable or truncated.
      ValueError / IndexError: a row is out of range or its ndjson line does not parse.
    """
    rows = sorted(set(int(r) for r in rows))
    if path.lower().endswith(sources.NPY_SUFFIX):
        bitmaps = sources.open_bitmaps(path)
        picked = np.asarray(bitmaps[rows]) if rows else np.zeros((0, 784), np.uint8)
        return {row: picked[i] for i, row in enumerate(rows)}
    offsets = sources.index_lines(path)
    parse = sources.line_parser(path)
    result: dict[int, Drawing] = {}
    with sources.open_drawing_file(path) as stream:
        for row in rows:
            stream.seek(offsets[row])
            drawing, _ = parse(sources.read_line(stream), row + 1)
            result[row] = drawing.strokes
    return result


def content_bytes(drawing: Drawing) -> bytes:
    """Canonical bytes of a drawing and of how it is rendered (for content-based cache keys)."""
    tag = f"qd-v{RENDER_VERSION}-{RENDER_OPTIONS!r}:".encode()
    if isinstance(drawing, np.ndarray):
        return tag + b"bitmap:" + np.ascontiguousarray(drawing, dtype=np.uint8).tobytes()
    return tag + b"strokes:" + repr(drawing).encode()


def render(drawing: Drawing, rendering: int = 0, seed: int = 0) -> np.ndarray:
    """A drawing as uint8 RGB pixels [64, 64, 3], black ink on white.

    Args:
      drawing: a bitmap row or strokes.
      rendering: 0 = exactly as convert draws it (the drawing contract); k > 0 = the k-th random
        rendering (convert/drawing_augment.py), seeded by (seed, content, k): strokes are redrawn at a
        random width, then every drawing gets a random bitmap rendering.
      seed: the run's seed.

    Raises:
      ValueError: a stroke drawing with no points.
    """
    if not rendering:
        if isinstance(drawing, np.ndarray):
            image = np.asarray(render_bitmap(drawing, RENDER_OPTIONS), dtype=np.uint8)
        else:
            image = render_by_contract(drawing, contract_for(RENDER_OPTIONS))
    else:
        rng = drawing_augment.rng_for(seed, content_bytes(drawing), rendering)
        if isinstance(drawing, np.ndarray):
            image = np.asarray(render_bitmap(drawing, RENDER_OPTIONS), dtype=np.uint8)
        else:
            image = render_by_contract(drawing_augment.augment_strokes(drawing, rng),
                                       drawing_augment.stroke_contract(rng, contract_for(RENDER_OPTIONS)))
        image = drawing_augment.augment_bitmap(image, rng)
    return np.repeat(image[:, :, None], 3, axis=2)


def scan(path: str, per_class: int = 1000, seed: int = 0):
    """Builds the ImageIndex for QuickDraw files (see `retrain.data.dataset.scan_quickdraw_dir`)."""
    from retrain.data.records import DatasetWarning, build_index
    if per_class < 0:
        raise DatasetError("--quickdraw_per_class must be 0 (every drawing) or a positive count.")
    try:
        discovery = sources.discover_sources([os.path.expanduser(path)])
        discovery.check_names()  # the class-name rule every reader applies, up front
    except sources.SourceError as error:
        raise DatasetError(f"{error} Pass --quickdraw_dir with a folder of <category>.npy or "
                           f"<category>.ndjson files (Google's numpy_bitmap / simplified).") from None
    skipped: list[tuple[str, str]] = [(str(p), reason) for p, reason in discovery.refused]
    unknown = sources.unknown_files_note(discovery.unknown)
    if not discovery.sources:
        raise DatasetError(f"No .npy or .ndjson files to use in {path}"
                           + (f" ({unknown})" if unknown else "")
                           + "".join(f"; {p}: {reason}" for p, reason in skipped[:3])
                           + ". Download categories from https://quickdraw.withgoogle.com/data "
                             "(numpy_bitmap or simplified) into it.")
    if unknown:
        import warnings
        warnings.warn(f"{path}: {unknown}.", DatasetWarning, stacklevel=3)
    records: dict[str, list[tuple[str, str, Optional[int]]]] = {}
    for source in discovery.sources:
        # abspath, not resolve(): a symlink to a content-addressed blob must keep its .npy name.
        file = os.path.abspath(str(source.path))
        try:
            if source.kind == "npy":
                total = sources.open_bitmaps(file).shape[0]
                rows = sources.select_indices(total, per_class, seed, source.label).tolist()
            else:
                selection = sources.select_drawings(file, per_class, seed, source.label,
                                                    recognized_only=False)
                rows = [line.number - 1 for line in selection.lines]
                if source.kind == "csv":
                    from retrain.data.kaggle_csv import word_note
                    note = word_note(file, source.label)
                    if note:  # said once per file, as the native family says it
                        import warnings
                        warnings.warn(f"{file}: {note}", DatasetWarning, stacklevel=3)
                if selection.malformed:
                    skipped.append((file, f"{selection.malformed} malformed line(s) left out, first "
                                          f"{selection.first_problem}"))
        except sources.SourceError as error:
            skipped.append((file, str(error)))
            continue
        name = os.path.basename(file)
        records.setdefault(source.label, []).extend(
            (f"{source.label}/{name}#{row}", file, row) for row in rows)
    return build_index(records, skipped, path, caller_depth=2)
