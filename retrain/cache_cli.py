"""`qdretrain cache`: precompute the bottleneck cache before training (or on several machines at once)."""

from __future__ import annotations

import warnings

import click

from retrain import architectures
from retrain.cli_common import flag, user_errors
from retrain.errors import ConfigError


@click.command("cache")
@flag("--image_dir", type=click.Path(exists=True, file_okay=False),
      help="Folder of labelled images: one subfolder per label (JPEG, PNG, BMP, GIF).")
@flag("--quickdraw_dir", type=click.Path(exists=True),
      help="Instead of --image_dir: QuickDraw .npy/.ndjson files (or a folder of them).")
@flag("--quickdraw_per_class", type=int, default=1000, show_default=True,
      help="Drawings per class taken from --quickdraw_dir (use the same value as for training).")
@flag("--seed", type=int, default=0, show_default=True,
      help="Picks the --quickdraw_dir drawings (use the same value as for training).")
@flag("--architecture", default=architectures.DEFAULT_ARCHITECTURE, show_default=True,
      help="Backbone name from the registry (`qdretrain architectures`).")
@flag("--tfhub_module", default=None, help="TF-Hub handle or local module folder; overrides the handle.")
@flag("--input_size", type=int, default=None,
      help="Input side in pixels, only for a --tfhub_module whose size differs from the architecture's.")
@flag("--bottleneck_dir", default="bottlenecks", show_default=True,
      help="Cache folder; safe to share between runs, machines and workers.")
@flag("--cache_batch_size", type=click.IntRange(min=1), default=32, show_default=True,
      help="Images per forward pass.")
@flag("--shard_index", type=click.IntRange(min=0), default=0, show_default=True,
      help="With --shard_count: compute only this share of the missing images (0-based).")
@flag("--shard_count", type=click.IntRange(min=1), default=1, show_default=True,
      help="Split the work between this many processes sharing --bottleneck_dir.")
@flag("--progress/--no_progress", default=True, show_default=True, help="Show a progress bar.")
@user_errors
def cache_command(image_dir, quickdraw_dir, quickdraw_per_class, seed, architecture, tfhub_module,
                  input_size, bottleneck_dir, cache_batch_size, shard_index, shard_count, progress):
    """Compute the bottleneck (feature vector) of every image once, into --bottleneck_dir.

    \b
    Training does this itself; run it alone to prepare a cache ahead of time, or to split the work:
      qdretrain cache --image_dir Output --shard_index 0 --shard_count 2   # on machine A
      qdretrain cache --image_dir Output --shard_index 1 --shard_count 2   # on machine B
    Interrupt it any time: finished work is kept and a rerun goes on from there. Images that cannot be
    decoded are listed and left out. A different module (or input size) gets its own cache folder.
    """
    if bool(image_dir) == bool(quickdraw_dir):
        raise click.UsageError("Pass exactly one of --image_dir or --quickdraw_dir.")
    if shard_index >= shard_count:
        raise click.UsageError(f"--shard_index must be below --shard_count ({shard_count}).")
    try:
        spec = architectures.get(architecture)
    except KeyError as error:
        raise click.BadParameter(str(error.args[0]), param_hint="--architecture") from None
    spec = architectures.with_overrides(spec, input_size=input_size)

    from retrain import dataset
    from retrain.bottlenecks import BottleneckCache  # noqa: F401  (TensorFlow is imported from here on)
    from retrain.hub_modules import resolve_module

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", dataset.DatasetWarning)
        if image_dir:
            index = dataset.scan_image_dir(image_dir)
        else:
            if quickdraw_per_class < 1:
                raise ConfigError("--quickdraw_per_class must be at least 1.")
            index = dataset.scan_quickdraw_dir(quickdraw_dir, quickdraw_per_class, seed)
    for warning in caught:  # one clean line each, not Python's "file:line: Warning" format
        click.echo(f"Warning: {warning.message}", err=True)
    click.echo(f"Found {len(index.records)} images in {len(index.labels)} classes.")
    for path, reason in index.skipped[:20]:
        click.echo(f"  skipped {path}: {reason}")
    if len(index.skipped) > 20:
        click.echo(f"  ... and {len(index.skipped) - 20} more skipped files")

    module = resolve_module(spec, tfhub_module)
    cache = BottleneckCache(bottleneck_dir, module, spec)
    report = cache.compute(index.records, batch_size=cache_batch_size, shard_index=shard_index,
                           shard_count=shard_count, progress=progress)
    click.echo(report.summary())
