"""The labelled-image records every later step works from, and how an index of them is assembled.

An `ImageIndex` holds the sorted labels (the one ordering every output uses, `retrained_labels.txt`
included), one `ImageRecord` per usable image or QuickDraw drawing, and the files that were left out.
Both readers (retrain/data/dataset.py for image folders, retrain/data/quickdraw_source.py for QuickDraw
files) build theirs with `build_index`.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections import Counter
from typing import Optional

from common.errors import DatasetError

log = logging.getLogger(__name__)

# retrain.py warned below 20 images a class: too few to train or to put any in validation/testing.
MIN_IMAGES_PER_CLASS = 20


class DatasetWarning(UserWarning):
    """A dataset that trains, but probably badly (tiny classes, skipped files)."""


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """One labelled image.

    Attributes:
      label: the class name (folder name, or QuickDraw category).
      label_index: position of `label` in `ImageIndex.labels`.
      relpath: stable name, relative to the dataset root with "/" separators: what the split hashes,
        so moving the whole folder does not reshuffle it. QuickDraw: "<label>/<file name>#<row>".
      source: absolute path of the file (image, .npy or .ndjson).
      row: None for image files; the drawing's index in a QuickDraw file.
      rendering: 0 = the canonical rendering; k > 0 = the k-th random rendering of a drawing
        (convert/drawing_augment.py), a training-only copy with its own cached bottleneck.
      augment_seed: the run's seed, with the content and `rendering` seeding that random rendering.
    """

    label: str
    label_index: int
    relpath: str
    source: str
    row: Optional[int] = None
    rendering: int = 0
    augment_seed: int = 0


@dataclasses.dataclass(frozen=True)
class ImageIndex:
    """A scanned dataset.

    Attributes:
      labels: class names, sorted; model output i is labels[i].
      records: usable images, sorted by (label, relpath).
      skipped: (path, reason) for every file left out.
    """

    labels: tuple[str, ...]
    records: tuple[ImageRecord, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def counts(self) -> dict[str, int]:
        """Images per label, in label order."""
        counter = Counter(record.label for record in self.records)
        return {label: counter[label] for label in self.labels}


def _warn_small_classes(counts: dict[str, int], source: str, stacklevel: int) -> None:
    small = {label: n for label, n in counts.items() if n < MIN_IMAGES_PER_CLASS}
    if small:
        listed = ", ".join(f"{label!r} ({n})" for label, n in sorted(small.items())[:10])
        if len(small) > 10:
            listed += f" and {len(small) - 10} more"
        message = (f"{len(small)} class(es) in {source} have fewer than {MIN_IMAGES_PER_CLASS} images: "
                   f"{listed}. They may end up with no validation or test images and will train "
                   f"poorly; add images or merge those classes.")
        warnings.warn(message, DatasetWarning, stacklevel=stacklevel + 1)


def build_index(records_by_label: dict[str, list[tuple[str, str, Optional[int]]]],
                skipped: list[tuple[str, str]], source: str, caller_depth: int = 1) -> ImageIndex:
    """Assembles an ImageIndex: sorted labels, label indices, sorted records; checks class counts.

    Args:
      records_by_label: label -> [(relpath, source path, row)]. Labels with no records are dropped
        (with a warning), since a class with no images cannot be trained.
      skipped: (path, reason) of files left out.
      source: the dataset root, for messages.
      caller_depth: frames between this function and the user's call (so warnings point there).

    Raises:
      DatasetError: fewer than two usable classes.
    """
    empty = sorted(label for label, items in records_by_label.items() if not items)
    if empty:
        warnings.warn(f"No usable images for {', '.join(map(repr, empty))} in {source}; "
                      f"{'that class is' if len(empty) == 1 else 'those classes are'} left out.",
                      DatasetWarning, stacklevel=caller_depth + 2)
    labels = tuple(sorted(label for label, items in records_by_label.items() if items))
    if len(labels) < 2:
        found = f"only {labels[0]!r}" if labels else "none"
        raise DatasetError(
            f"{source} needs at least 2 classes with images to train a classifier; found {found}. "
            f"Put each class's images in its own subfolder (e.g. {source}/cat/*.jpg, {source}/dog/*.jpg)"
            + (f"; {len(skipped)} file(s) were skipped as unusable, e.g. {skipped[0][0]}: {skipped[0][1]}"
               if skipped else "") + ".")
    records = []
    for index, label in enumerate(labels):
        # Files by relative path; QuickDraw rows by file and row number (not "#10" before "#2").
        for relpath, path, row in sorted(records_by_label[label],
                                         key=lambda item: (item[0],) if item[2] is None else item[1:]):
            records.append(ImageRecord(label=label, label_index=index, relpath=relpath, source=path,
                                       row=row))
    result = ImageIndex(labels=labels, records=tuple(records), skipped=tuple(sorted(skipped)))
    _warn_small_classes(result.counts(), source, stacklevel=caller_depth + 2)
    if skipped:  # callers list them (index.skipped); this is for logs only
        log.info("Skipped %d unusable file(s) in %s, e.g. %s: %s", len(skipped), source,
                 skipped[0][0], skipped[0][1])
    return result
