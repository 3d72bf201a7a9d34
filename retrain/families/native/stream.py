"""Streaming drawings into tf.data with memory that does not grow with the number of drawings.

Each class is a Python generator over its file, read lazily: `.npy` memory-mapped in chunks of rows,
`.ndjson` and Kaggle `.csv` line by line. A drawing's set (training/validation/testing) is decided on
the fly by the project's stable hash (retrain/data/split.py) of its key "<label>/<file name>#<row>", the
same key `--quickdraw_dir` uses for the TF-Hub family, so both families test on the same drawings.
Training draws classes by a per-pass schedule (retrain/data/sampling.py): each class in its share
(the data's own, tempered, or balanced) spread evenly through the pass, so no pass ends on the big
classes after the small ones ran out; then a bounded shuffle buffer. Only counts and one pass's class
ids, never lists of drawings, are kept.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Iterator

import numpy as np

from convert import sources
from retrain.data.kaggle_csv import CSV_COLUMNS, CSV_SUFFIX, BadRows, csv_header, iter_csv, parse_csv_row  # noqa: F401
from retrain.data.split import which_set
from common.errors import DatasetError

CHUNK_ROWS = 64  # .npy rows per memmap slice: one slice is alive per class (345 classes x 64 x 784 B = 17 MB)


@dataclasses.dataclass(frozen=True)
class ClassSource:
    """One class's file. Attributes: label, label_index, path, kind ("npy" | "ndjson" | "csv")."""
    label: str
    label_index: int
    path: str
    kind: str


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """Which drawings a stream yields. Attributes: set name, the two percentages, max_per_class (the
    first N drawings of each file in file order; 0 = all), shard (index, count) for per-worker data,
    excluded: keys ("<label>/<file>#<row>") left out of every set (--exclude_list)."""
    name: str
    testing_percentage: float
    validation_percentage: float
    max_per_class: int = 0
    shard: tuple = (0, 1)
    excluded: frozenset = frozenset()

    def wants(self, source: "ClassSource", row: int) -> bool:
        """Whether drawing `row` of `source` belongs to this stream."""
        k = key(source, row)
        return (row % self.shard[1] == self.shard[0] and k not in self.excluded
                and which_set(k, self.testing_percentage, self.validation_percentage) == self.name)


def discover(path: str) -> tuple[list[ClassSource], list[tuple[str, str]]]:
    """Class files under `path` (a folder or one file): .npy, .ndjson and Kaggle train_simplified .csv,
    found and named by convert.sources.discover_sources, the one reader every path uses.

    Returns:
      (sources sorted by label, [(path, reason)] refused).

    Raises:
      DatasetError: `path` is missing, or a class name breaks the class-name rule (sources.label_problem).
    """
    from common.errors import DatasetError
    try:
        discovery = sources.discover_sources([os.path.expanduser(path)])
        discovery.check_names()
    except sources.SourceError as error:
        raise DatasetError(str(error)) from None
    refused = [(str(p), reason) for p, reason in discovery.refused]
    return [ClassSource(source.label, i, os.path.abspath(str(source.path)), source.kind)
            for i, source in enumerate(discovery.sources)], refused


def key(source: ClassSource, row: int) -> str:
    """The per-drawing key the split hashes (as retrain/data/quickdraw_source.py names records)."""
    return f"{source.label}/{os.path.basename(source.path)}#{row}"


def iter_class(source: ClassSource, split: SplitSpec, bad: BadRows) -> Iterator[tuple[np.ndarray, int]]:
    """(uint8 [28, 28] ink, label index) of one class's drawings in `split`, read lazily."""
    from retrain.data.bitmap_ink import strokes_to_ink
    wanted = functools.partial(split.wants, source)
    limit = split.max_per_class
    if source.kind == "npy":
        bitmaps = sources.open_bitmaps(source.path)
        total = bitmaps.shape[0] if not limit else min(limit, bitmaps.shape[0])
        for start in range(0, total, CHUNK_ROWS):
            chunk = None
            for row in range(start, min(total, start + CHUNK_ROWS)):
                if wanted(row):
                    if chunk is None:
                        chunk = np.array(bitmaps[start:min(total, start + CHUNK_ROWS)])
                    yield chunk[row - start].reshape(28, 28), source.label_index
        return
    if source.kind == "csv":
        for row, _, _, strokes in iter_csv(source.path, bad, source.label):
            if limit and row >= limit:
                return
            if wanted(row):
                yield strokes_to_ink(strokes), source.label_index
        return
    row = -1
    with sources.open_drawing_file(source.path) as stream:
        for _, line in sources.iter_lines(stream):
            if not line.strip():
                continue
            row += 1
            if limit and row >= limit:
                return
            if not wanted(row):
                continue
            try:
                drawing, _ = sources.parse_drawing(line, row + 1)
                ink = strokes_to_ink(drawing.strokes)
            except (ValueError, TypeError) as error:
                bad.add(source.path, f"line {row + 1}", str(error))
                continue
            yield ink, source.label_index


def split_rows(source: ClassSource, split: SplitSpec) -> Iterator[int]:
    """The row numbers of one class file that belong to `split` (max_per_class and exclusions held),
    numbered as `iter_class` numbers them; rows that do not parse are the reader's to skip."""
    limit = split.max_per_class
    if source.kind == "npy":
        total = sources.open_bitmaps(source.path).shape[0]
        total = min(total, limit) if limit else total
        yield from (row for row in range(total) if split.wants(source, row))
        return
    if source.kind == "csv":
        rows = (row for row, _, _, _ in iter_csv(source.path, BadRows()))
    else:
        def lines():
            row = -1
            with sources.open_drawing_file(source.path) as stream:
                for _, line in sources.iter_lines(stream):
                    if line.strip():
                        row += 1
                        yield row
        rows = lines()
    for row in rows:
        if limit and row >= limit:
            return
        if split.wants(source, row):
            yield row


def count_split(class_sources: list[ClassSource], split: SplitSpec, bad: BadRows) -> dict[str, int]:
    """Drawings per class in `split` (one streaming pass; .npy only hashes keys, no pixels read)."""
    counts = {}
    for source in class_sources:
        if source.kind == "npy":
            total = sources.open_bitmaps(source.path).shape[0]
            total = min(total, split.max_per_class) if split.max_per_class else total
            counts[source.label] = sum(1 for row in range(total) if split.wants(source, row))
        else:
            counts[source.label] = sum(1 for _ in iter_class(source, split, bad))
    return counts


def mixed(class_sources: list[ClassSource], split: SplitSpec, bad: BadRows, counts, weighting: str,
          seed: int, repeat: bool = True, targets=None) -> Iterator[tuple]:
    """Training draws: pass after pass, each class in its `weighting` share spread evenly through the
    pass (retrain/data/sampling.py), each class's drawings read in file order and cycled when a class
    is drawn more often than it has drawings. Memory: one reader per class and one pass's class ids.

    Args:
      counts: drawings per class in `split` (count_split), in class_sources order.
      weighting: sampling.WEIGHTINGS.
      repeat: passes forever; False: one pass.
      targets: (soft [n, C], offsets [C + 1]) of a teacher (retrain/families/distilled/teacher.py):
        each draw then also yields the teacher's probabilities for that drawing (float32 [C]).
    """
    from retrain.data import sampling
    readers: list = [None] * len(class_sources)
    read = [0] * len(class_sources)  # drawings of each class read since its reader started

    def draw(c):
        for _ in range(2):  # a reader at its end starts over once; a class that yields nothing is an error
            if readers[c] is None:
                readers[c], read[c] = iter_class(class_sources[c], split, bad), 0
            try:
                ink, label = next(readers[c])
                read[c] += 1
                if targets is None:
                    return ink, label
                return ink, label, np.asarray(targets[0][targets[1][c] + read[c] - 1], np.float32)
            except StopIteration:
                readers[c] = None
        raise DatasetError(f"{class_sources[c].path} yielded no drawing for the {split.name} set although "
                           f"it was counted; is the file being rewritten? Run again once it is complete.")

    pass_index = 0
    while True:
        for c in sampling.pass_schedule(counts, weighting, seed, pass_index):
            yield draw(int(c))
        pass_index += 1
        if not repeat:
            return


def dataset(class_sources: list[ClassSource], split: SplitSpec, bad: BadRows, *, shuffle_buffer: int = 0,
            class_balanced: bool = False, repeat: bool = False, seed: int = 0, weighting: str = "",
            counts=None, targets=None):
    """A tf.data.Dataset of (uint8 [28, 28, 1] ink, int64 label).

    Args:
      class_sources: from `discover`.
      split: which drawings.
      bad: collects malformed rows.
      shuffle_buffer: bounded shuffle buffer (0: no shuffling; keep it off for evaluation).
      class_balanced: shorthand for weighting="balanced".
      repeat: repeat forever (training; the caller counts steps).
      seed: shuffling/sampling seed.
      weighting: "data" | "sqrt" | "balanced" (retrain/data/sampling.py): a training stream that
        draws every class in that share, evenly through each pass. "" (evaluation): every drawing
        once, classes interleaved one drawing each in turn.
      counts: drawings per class (count_split's values); counted here when not given.
      targets: a teacher's (soft, offsets) (see `mixed`): elements become (ink, label, soft).
    """
    from common.tfcompat import tf
    signature = (tf.TensorSpec((28, 28), tf.uint8), tf.TensorSpec((), tf.int64))
    if targets is not None:
        if not weighting and not class_balanced:
            raise ValueError("teacher targets need a training weighting")
        signature += (tf.TensorSpec((int(targets[0].shape[1]),), tf.float32),)
    weighting = "balanced" if class_balanced else weighting
    if weighting:
        if counts is None:
            by_label = count_split(class_sources, split, bad)
            counts = [by_label[s.label] for s in class_sources]
        counts = list(counts)
        ds = tf.data.Dataset.from_generator(
            lambda: mixed(class_sources, split, bad, counts, weighting, seed, repeat, targets),
            output_signature=signature)
    else:
        # Every drawing once (validation/test): round robin over the classes, so the first batches
        # already hold every class.
        ds = tf.data.Dataset.range(len(class_sources)).interleave(
            lambda i: tf.data.Dataset.from_generator(
                lambda index: iter_class(class_sources[int(index)], split, bad), args=(i,),
                output_signature=signature),
            cycle_length=len(class_sources), block_length=1)
        if repeat:
            ds = ds.repeat()
    ds = ds.map(lambda x, y, *soft: (tf.expand_dims(x, -1), y, *soft))
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds
