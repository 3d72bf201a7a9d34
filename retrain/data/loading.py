"""Finding and splitting a run's labelled images: the scan, the exclude list, the stable split, the
renderings, each reported in one line. Both model families and the embedding commands use these.
"""

from __future__ import annotations

from common.errors import DatasetError
from common.progress import echo


def load_index(config):
    """Scans --image_dir (or --quickdraw_dir) and reports skipped files.

    Args:
      config: the run's options (retrain/families/config.TrainConfig: image_dir or quickdraw_dir,
        quickdraw_per_class, seed, exclude_list).
    """
    import warnings

    from retrain.data import dataset
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", dataset.DatasetWarning)
        if config.image_dir:
            index = dataset.scan_image_dir(config.image_dir)
        else:
            index = dataset.scan_quickdraw_dir(config.quickdraw_dir, config.quickdraw_per_class, config.seed)
            per_class = config.quickdraw_per_class
            echo(f"Taking {f'up to {per_class}' if per_class else 'every'} drawing(s) of each class "
                 f"(--quickdraw_per_class; 0 takes every drawing, which native nets do by default).")
    if config.exclude_list:
        from retrain.data.exclude import apply_exclude_list, match_note, read_exclude_list
        names = read_exclude_list(config.exclude_list)
        present = {r.relpath for r in index.records}
        before = index.labels
        index, removed = apply_exclude_list(index, names)
        echo(f"Left out {removed} image(s) listed in {config.exclude_list}.")
        echo(match_note(config.exclude_list, names, removed, names - present))
        dropped = [label for label in before if label not in index.labels]
        if dropped:
            echo(f"Every image of {', '.join(map(repr, dropped))} is excluded: dropped as output class(es).")
        if len(index.labels) < 2:
            raise DatasetError(f"--exclude_list {config.exclude_list} leaves {len(index.labels)} class(es) "
                               f"with images; a classifier needs at least 2. Exclude fewer images.")
    for warning in caught:  # one clean line each, not Python's "file:line: Warning" format
        echo(f"Warning: {warning.message}")
    echo(f"Found {len(index.records)} images in {len(index.labels)} classes.")
    if index.skipped:
        echo(f"Skipped {len(index.skipped)} unusable files:")
        for path, reason in index.skipped[:20]:
            echo(f"  skipped {path}: {reason}")
        if len(index.skipped) > 20:
            echo(f"  ... and {len(index.skipped) - 20} more (all listed in skipped_files.txt)")
    return index


def split_index(index, config) -> dict:
    from retrain.data.split import split_records
    splits = split_records(index.records, config.testing_percentage, config.validation_percentage)
    echo("Split: " + ", ".join(f"{name} {len(records)}" for name, records in splits.items())
         + " (stable: hashed on each path relative to the image folder)")
    if not splits["training"]:
        raise DatasetError("No training images after the split. Add images or lower "
                           "--testing_percentage / --validation_percentage.")
    return splits


def rendered_splits(config, splits: dict, drawings: bool) -> dict:
    """Training drawings x --renderings (retrain/data/renderings.py); photos and other splits unchanged."""
    from retrain.data import renderings
    if config.renderings > 1:
        echo(f"Renderings: {config.renderings} per training drawing" if drawings else
             "Renderings: none (the images do not look like drawings; photos get no rendering augmentation)")
    return renderings.expand_training(splits, config.renderings, config.seed, drawings)


