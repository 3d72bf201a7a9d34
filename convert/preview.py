"""A PNG to look at the data before training: sample drawings per class and the class's mean image.

Works on a JPG folder written by `qdretrain convert` (or any `<label>/*.jpg` folder) and directly on
QuickDraw .npy/.ndjson files. The mean image is a heat map of where people put ink for that class; it is
computed with ink as "hot" whatever the images' polarity, so folders of either polarity compare.
matplotlib (Agg backend, no display needed) is imported only here, so `qdretrain` starts fast.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from convert import sources
from convert.render import RenderOptions, render_bitmap, render_strokes
from convert.sources import SourceError
from common.errors import QdretrainError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# Side of the cells and of the mean image: enough detail for strokes, small enough for many classes.
CELL = 64


class PreviewError(QdretrainError):
    """Nothing to preview, or the PNG cannot be written."""


@dataclasses.dataclass(frozen=True)
class PreviewClass:
    """What one row of the preview shows.

    Attributes:
        label: the class.
        samples: up to N `CELL`x`CELL` uint8 images as they would be used (or as stored).
        mean: `CELL`x`CELL` float32 mean ink (0..1) over up to `mean_count` drawings.
        total: drawings the class has (files in the folder, rows or lines in the file).
    """
    label: str
    samples: tuple[np.ndarray, ...]
    mean: np.ndarray
    total: int


def collect(inputs: Sequence[Path | str], samples: int, mean_count: int, seed: int,
            polarity: str, max_classes: int = 0) -> tuple[list[PreviewClass], list[str]]:
    """Reads sample drawings and mean images for every class among `inputs`.

    Args:
        inputs: image folders (`<label>/*.jpg`), QuickDraw files, or folders of QuickDraw files.
        samples: drawings shown per class.
        mean_count: drawings averaged for the mean image (a seeded random choice).
        seed: seeds both choices.
        polarity: how QuickDraw files are shown (image folders are shown as stored).
        max_classes: read only the first this many classes in sorted order (0: all); the others are
            not read at all.

    Returns:
        The classes sorted by label, and warnings (skipped inputs, classes left out).

    Raises:
        PreviewError: an input does not exist, or nothing could be read.
    """
    warnings: list[str] = []
    loaders: list[tuple[str, Callable[[], PreviewClass]]] = []
    quickdraw_inputs: list[Path] = []
    for given in inputs:
        path = Path(given)
        if not path.exists():
            raise PreviewError(f"{path} does not exist. Give a folder of <label>/*.jpg (from "
                               "`qdretrain convert`) or QuickDraw .npy/.ndjson files.")
        if path.is_dir() and not any(p.suffix in sources.SUFFIXES for p in path.iterdir()):
            folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
            if not folders:
                note = sources.unknown_files_note(sources.discover_sources([path]).unknown)
                raise PreviewError(f"{path} holds neither class folders nor .npy/.ndjson files"
                                   + (f" ({note})" if note else "") + ".")
            loaders.extend((folder.name, functools.partial(_from_image_folder, folder, samples,
                                                           mean_count, seed)) for folder in folders)
        else:
            quickdraw_inputs.append(path)
    if quickdraw_inputs:
        discovery = sources.discover_sources(quickdraw_inputs)
        warnings.extend(f"skipped {path}: {reason}" for path, reason in discovery.refused)
        warnings.extend(filter(None, [sources.unknown_files_note(discovery.unknown)]))
        options = RenderOptions(size=CELL, polarity=polarity)
        loaders.extend((source.label, functools.partial(_from_source, source, samples, mean_count, seed,
                                                        options)) for source in discovery.sources)
    loaders.sort(key=lambda item: item[0])
    if 0 < max_classes < len(loaders):
        warnings.append(f"showing the first {max_classes} of {len(loaders)} classes (see --max_classes)")
        loaders = loaders[:max_classes]
    classes: list[PreviewClass] = []
    for _, load in loaders:
        try:
            classes.append(load())
        except PreviewError as error:
            warnings.append(str(error))
        except SourceError as error:
            warnings.append(f"skipped: {error}")
    if not classes:
        raise PreviewError("nothing to preview: " + ("; ".join(warnings) or "no classes found."))
    return classes, warnings


def _ink(image: np.ndarray) -> np.ndarray:
    """0..1 ink with ink high, whatever the polarity: the border (background) decides which way."""
    pixels = image.astype(np.float32) / 255.0
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return 1.0 - pixels if border.mean() > 0.5 else pixels


def _from_image_folder(folder: Path, samples: int, mean_count: int, seed: int) -> PreviewClass:
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise PreviewError(f"skipped {folder}: no images in it.")
    order = sources.permutation(len(files), seed, folder.name)
    shown, total_ink, used = [], np.zeros((CELL, CELL), np.float32), 0
    for index in order[:max(samples, mean_count)].tolist():
        try:
            with Image.open(files[index]) as image:
                pixels = np.asarray(image.convert("L").resize((CELL, CELL), Image.Resampling.BILINEAR))
        except (OSError, ValueError):
            continue  # an unreadable image is simply not shown; training reports such files itself
        if len(shown) < samples:
            shown.append(pixels)
        if used < mean_count:
            total_ink += _ink(pixels)
            used += 1
    if not used:
        raise PreviewError(f"skipped {folder}: none of its images could be read.")
    return PreviewClass(label=folder.name, samples=tuple(shown), mean=total_ink / used, total=len(files))


def _from_source(source: sources.Source, samples: int, mean_count: int, seed: int,
                 options: RenderOptions) -> PreviewClass:
    wanted = max(samples, mean_count)
    if source.kind == "npy":
        bitmaps = sources.open_bitmaps(source.path)
        total = len(bitmaps)
        rows = sources.permutation(total, seed, source.label)[:wanted]
        images = [np.asarray(render_bitmap(row, options)) for row in bitmaps[np.sort(rows)]]
    else:
        total = len(sources.index_lines(source.path))
        selection = sources.select_drawings(source.path, wanted, seed, source.label, False)
        parse = sources.line_parser(source.path)
        with open(source.path, "rb") as stream:
            images = [np.asarray(render_strokes(sources.read_drawing(stream, line, parse).strokes, options))
                      for line in selection.lines]
        if not images:
            raise SourceError(f"{source.path}: no readable drawing (first problem: "
                              f"{selection.first_problem}).")
    mean = np.mean([_ink(image) for image in images[:mean_count]], axis=0).astype(np.float32)
    return PreviewClass(label=source.label, samples=tuple(images[:samples]), mean=mean, total=total)


def draw_preview(classes: Sequence[PreviewClass], output: Path, title: str = "") -> Path:
    """Draws one row per class (samples, then the mean heat map) and writes the PNG atomically.

    Args:
        classes: from `collect`.
        output: the PNG path; its folder is created.
        title: shown above the grid.

    Returns:
        `output`.

    Raises:
        PreviewError: the PNG cannot be written.
    """
    import matplotlib
    matplotlib.use("Agg")  # files only: works on servers and CI with no display
    import matplotlib.pyplot as plt

    columns = max(len(c.samples) for c in classes) + 1
    figure, axes = plt.subplots(len(classes), columns, squeeze=False,
                                figsize=(1.1 * columns + 1.6, 1.1 * len(classes) + 0.6))
    for row, entry in zip(axes, classes):
        for column, axis in enumerate(row):
            axis.set_xticks([])
            axis.set_yticks([])
            if column < len(entry.samples):
                axis.imshow(entry.samples[column], cmap="gray", vmin=0, vmax=255)
            elif column == columns - 1:
                axis.imshow(entry.mean, cmap="inferno", vmin=0, vmax=max(float(entry.mean.max()), 1e-6))
            else:
                axis.set_axis_off()
        row[0].set_ylabel(f"{entry.label}\n({entry.total})", rotation=0, ha="right", va="center",
                          fontsize=9)
    axes[0][-1].set_title("mean ink", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    output = Path(output)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.part")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(temporary, format="png", dpi=80)
        os.replace(temporary, output)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise PreviewError(f"cannot write {output}: {error.strerror or error}.") from None
    finally:
        plt.close(figure)
    return output
