"""`qdretrain cache`: precompute the bottleneck cache before training (or on several machines at once)."""

from __future__ import annotations

import click

from retrain.cli.options import data_and_module_options
from common.cli_options import apply_options, flag, user_errors
from retrain.families.config import TrainConfig
from common.errors import ConfigError


def _cache_options(func):
    return apply_options(data_and_module_options() + [
        flag("--seed", type=int, default=0, show_default=True,
             help="Picks the --quickdraw_dir drawings (use the same value as for training)."),
        flag("--shard_index", type=click.IntRange(min=0), default=0, show_default=True,
             help="With --shard_count: compute only this share of the missing images (0-based)."),
        flag("--shard_count", type=click.IntRange(min=1), default=1, show_default=True,
             help="Split the work between this many processes sharing --bottleneck_dir."),
        flag("--progress/--no_progress", default=True, show_default=True, help="Show a progress bar."),
    ], func)


@click.command("cache")
@_cache_options
@user_errors
def cache_command(image_dir, quickdraw_dir, quickdraw_per_class, seed, architecture, tfhub_module,
                  input_size, bottleneck_dir, cache_batch_size, input_preprocessing, shard_index, shard_count,
                  progress):
    """Compute the bottleneck (feature vector) of every image once, into --bottleneck_dir.

    \b
    Training does this itself; run it alone to prepare a cache ahead of time, or to split the work:
      qdretrain cache --image_dir Output --shard_index 0 --shard_count 2   # on machine A
      qdretrain cache --image_dir Output --shard_index 1 --shard_count 2   # on machine B
    Interrupt it any time: finished work is kept and a rerun goes on from there. Images that cannot be
    decoded are listed and left out. A different module (or input size) gets its own cache folder.
    """
    if shard_index >= shard_count:
        raise click.UsageError(f"--shard_index must be below --shard_count ({shard_count}).")
    # The training config checks the same options the same way (one source of truth for both).
    try:
        config = TrainConfig(image_dir=image_dir, quickdraw_dir=quickdraw_dir,
                             quickdraw_per_class=quickdraw_per_class, seed=seed, architecture=architecture,
                             tfhub_module=tfhub_module, input_size=input_size, bottleneck_dir=bottleneck_dir,
                             cache_batch_size=cache_batch_size, input_preprocessing=input_preprocessing)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None

    from common.writable import check_writable, write_errors
    check_writable(config.bottleneck_dir, "--bottleneck_dir")  # one line, before any feature is computed
    from retrain.data.loading import load_index
    from retrain.families.hub_head.family import resolve_architecture, with_input_preprocessing
    from retrain.families.hub_head.bottlenecks import BottleneckCache  # TensorFlow is imported from here on

    spec, module = resolve_architecture(config)
    index = load_index(config)
    from retrain.data.renderings import looks_like_drawings
    # Part of the cache key: resolved as training resolves it.
    spec = with_input_preprocessing(config, spec, looks_like_drawings(index.records))
    cache = BottleneckCache(bottleneck_dir, module, spec)
    with write_errors(config.bottleneck_dir, "--bottleneck_dir"):
        report = cache.compute(index.records, batch_size=cache_batch_size, shard_index=shard_index,
                               shard_count=shard_count, progress=progress)
    click.echo(report.summary())
