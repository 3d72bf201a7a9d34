"""`qdretrain convert` and `qdretrain preview`: parse options, call convert.pipeline / convert.preview.

No TensorFlow is imported here or below, so these commands start in well under a second.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from convert.pipeline import ConvertConfig, ConvertSummary, convert
from convert.render import POLARITIES, RESAMPLING, RenderOptions
from convert.sample import sample_dir
from common.cli_options import flag, user_errors

DEFAULT_SIZE = 64
DEFAULT_PER_CLASS = 1000


def _auto_workers() -> int:
    """One worker per CPU core (at most 8: beyond that the disk, not rendering, is the limit)."""
    return max(1, min(8, os.cpu_count() or 1))


@click.command("convert")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@flag("--output_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
      help="Where OUTPUT/<label>/<label>_<id>.jpg go (the layout --image_dir reads).")
@flag("--sample", is_flag=True, default=False,
      help="Convert the small real sample that ships with qdretrain (13 classes x 300 drawings, "
           "CC BY 4.0) instead of INPUTS: an offline demo.")
@flag("--per_class", type=click.IntRange(min=0), default=DEFAULT_PER_CLASS, show_default=True,
      help="Drawings per class, chosen at random with --seed (0: all of them).")
@flag("--seed", type=click.IntRange(min=0), default=0, show_default=True,
      help="Seeds the choice of drawings: the same seed picks the same drawings, and a larger "
           "--per_class only adds to a smaller one's choice.")
@flag("--size", type=click.IntRange(8, 1024), default=DEFAULT_SIZE, show_default=True,
      help="Output side in pixels. 64 keeps JPGs about 1-2 KB and reduces JPEG blocking versus 28 "
           "(the bitmaps' native size); training resizes to the model's input (e.g. 224) anyway. "
           "For .ndjson strokes a larger size (e.g. 224) renders real detail, not an upscale.")
@flag("--resample", type=click.Choice(list(RESAMPLING)), default="lanczos", show_default=True,
      help="Resampling used to resize bitmaps and to downsample rendered strokes.")
@flag("--polarity", type=click.Choice(POLARITIES), default="black_on_white", show_default=True,
      help="black_on_white: paper-like, as people draw in an app. white_on_black: QuickDraw's own "
           "bitmap convention.")
@flag("--stroke_width", type=click.FloatRange(min=0.5, max=64), default=16.0, show_default=True,
      help=".ndjson only: line width in units of the 256x256 drawing canvas (16 looks like Google's "
           "28x28 bitmaps; it scales with --size).")
@flag("--quality", type=click.IntRange(1, 95), default=90, show_default=True, help="JPEG quality.")
@flag("--workers", type=click.IntRange(min=0), default=0, show_default=True,
      help="Worker processes rendering in parallel (0: one per CPU core, at most 8).")
@flag("--recognized_only", is_flag=True, default=False,
      help=".ndjson only: take only drawings the game recognised.")
@click.pass_context
@user_errors
def convert_command(ctx, inputs, output_dir, sample, per_class, seed, size, resample, polarity,
                    stroke_width, quality, workers, recognized_only):
    """Turn QuickDraw files into OUTPUT_DIR/<label>/*.jpg, one folder per class.

    \b
    INPUTS are numpy_bitmap .npy files (cat.npy or full_numpy_bitmap_cat.npy; uint8 (N, 784),
    (N, 28, 28) or (N, 1, 784)), simplified .ndjson files and Kaggle's train_simplified/<word>.csv
    files, or folders holding them. The class
    name is the file name with its spelling kept ("sea turtle"). Safe to stop and rerun: JPGs are
    written whole or not at all, and a rerun skips the ones already there. A bad file is reported
    and the other classes still convert.

    \b
    Examples:
      qdretrain convert quickdraw/ --output_dir Output
      qdretrain convert "sea turtle.npy" cat.ndjson --size 224 --output_dir Output
      qdretrain convert --sample --output_dir qdretrain_demo/images
    """
    if sample and inputs:
        raise click.UsageError("give INPUTS or --sample, not both.")
    if not sample and not inputs:
        raise click.UsageError("give QuickDraw .npy/.ndjson files or folders, or --sample for the "
                               "embedded sample.")
    try:
        config = ConvertConfig(
            output_dir=output_dir, per_class=per_class, seed=seed, quality=quality,
            workers=workers or _auto_workers(), recognized_only=recognized_only,
            render=RenderOptions(size=size, resample=resample, polarity=polarity,
                                 stroke_width=stroke_width))
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    summary = convert([sample_dir()] if sample else list(inputs), config)
    per_class_given = ctx.get_parameter_source("per_class") == click.core.ParameterSource.COMMANDLINE
    # The sample has what it has (300 a class): a shortfall against the default is no news there.
    _report(summary, output_dir, per_class if per_class_given or not sample else 0,
            "--per_class" if per_class_given else "the default --per_class")


def _report(summary: ConvertSummary, output_dir: Path, per_class: int, per_class_name: str = "--per_class") -> None:
    """Warnings to stderr, then the one-line summary to stdout."""
    for path, reason in summary.refused_files:
        click.echo(f"Warning: refused {path}: {reason}", err=True)
    for note in summary.notes:
        click.echo(f"Warning: {note}", err=True)
    for report in summary.classes:
        for note in report.notes:
            click.echo(f"Warning: {report.label!r} ({report.source.name}): {note}", err=True)
    short = sorted((report.chosen, report.label) for report in summary.classes
                   if report.chosen < per_class)
    if short:
        click.echo(f"Note: {len(short)} of {len(summary.classes)} classes have fewer than {per_class_name} "
                   f"{per_class} usable drawings (fewest: {short[0][1]!r}, {short[0][0]}).", err=True)
    files = len(summary.refused_files)
    click.echo(f"{output_dir}: {summary.written} written, {summary.skipped} skipped (already there), "
               f"{summary.refused} refused drawings, {files} refused file{'s' * (files != 1)}; "
               f"{len(summary.classes)} classes.")


@click.command("preview")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@flag("--output", default="preview.png", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
      help="The PNG to write.")
@flag("--per_class", type=click.IntRange(1, 20), default=8, show_default=True,
      help="Sample drawings shown per class.")
@flag("--mean_count", type=click.IntRange(min=1), default=300, show_default=True,
      help="Drawings averaged into each class's mean image (the heat map of where people draw).")
@flag("--max_classes", type=click.IntRange(min=1), default=40, show_default=True,
      help="Show at most this many classes (the first in sorted order) to keep the PNG readable.")
@flag("--seed", type=click.IntRange(min=0), default=0, show_default=True,
      help="Seeds which drawings are shown.")
@flag("--polarity", type=click.Choice(POLARITIES), default="black_on_white", show_default=True,
      help="How .npy/.ndjson drawings are shown (image folders are shown as stored).")
@user_errors
def preview_command(inputs, output, per_class, mean_count, max_classes, seed, polarity):
    """Write a PNG grid of sample drawings and the mean image per class.

    \b
    INPUTS: a folder written by `qdretrain convert` (<label>/*.jpg), or QuickDraw .npy/.ndjson files
    or folders of them. Look at the data before training: wrong polarity, empty or mislabelled
    classes show at a glance.

    \b
    Example:
      qdretrain preview qdretrain_demo/images --output preview.png
    """
    from convert import preview  # keeps numpy-only imports off `qdretrain --help`'s path

    classes, warnings = preview.collect(inputs, per_class, mean_count, seed, polarity, max_classes)
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    title = str(inputs[0]) if len(inputs) == 1 else f"{len(inputs)} inputs"
    path = preview.draw_preview(classes, output, title=title)
    click.echo(f"Wrote {path} ({len(classes)} classes).")
