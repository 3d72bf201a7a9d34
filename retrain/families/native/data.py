"""Where a native run's drawings come from: QuickDraw class files (stream.py) or an --image_dir
(image_stream.py), behind one `NativeData`, so retrain/families/native/train.py trains and evaluates either the
same way. Both split with the project's stable hash and honour --exclude_list; splits.json records
what export verifies and calibrates on.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional

from common.errors import DatasetError

SPLIT_SAMPLE = 2000  # drawings per set listed in splits.json (export's verification/calibration)


@dataclasses.dataclass(frozen=True)
class NativeData:
    """Where a run's drawings come from, whatever the source: `.npy`/`.ndjson`/`.csv` rows (stream.py)
    or image files (image_stream.py). Each set is a function returning a fresh tf.data.Dataset of
    (uint8 [side, side, 1] ink, int64 label), so training and evaluation never see the source.

    Attributes:
      labels: class names, sorted (model output order).
      train_count: training drawings this worker reads.
      train / validation / testing: (**stream options) -> dataset; train takes shuffle_buffer,
        class_balanced, repeat and seed.
      test_names: a name per test drawing in stream order (image paths), or None ("test#<i>").
      splits_json: the contents of splits.json (export's verification and calibration sets).
      warnings: () -> lines to print at the end (malformed rows skipped, ...).
      test_records: () -> the test split as ImageRecords (the final evaluation's images; splits.json
        lists the same names, so export verifies on exactly them).
      training_names: () -> the training drawings' keys (the backup's run signature).
      validation_records: () -> the validation split as ImageRecords (the temperature's fit).
      train_counts: ((label, training drawings), ...) for this worker.
      all_train_count: training drawings of every worker together: what a pass is counted in, so all
        workers agree on a run's length (each worker's own count differs by its share of the hash).
      teacher_targets: (model_dir, cache_dir, echo) -> (soft, offsets) of a teacher on this worker's
        training drawings (distillation; QuickDraw files only, else None).
    """
    labels: tuple
    train_count: int
    train: Callable
    validation: Callable
    testing: Callable
    test_names: Optional[tuple]
    splits_json: Callable
    warnings: Callable
    test_records: Callable
    training_names: Callable
    validation_records: Callable = lambda: []
    train_counts: tuple = ()
    teacher_targets: Optional[Callable] = None
    all_train_count: int = 0


def drawing_data(config, max_per_class: int, shard: tuple, echo) -> NativeData:
    """--quickdraw_dir: class files streamed row by row (stream.py); max_per_class: the first N rows of
    each file (0: all).

    Raises:
      DatasetError: fewer than 2 class files, or no training drawings.
    """
    from retrain.families.native import stream
    class_sources, refused = stream.discover(config.quickdraw_dir)
    for path, reason in refused:
        echo(f"Warning: skipped {path}: {reason}")
    if len(class_sources) < 2:
        raise DatasetError(f"{config.quickdraw_dir} holds {len(class_sources)} class file(s); a classifier "
                           f"needs at least 2 (.npy, .ndjson or Kaggle train_simplified .csv).")
    labels = tuple(s.label for s in class_sources)
    echo(f"Reading {'every drawing' if not max_per_class else f'the first {max_per_class} drawings'} of each "
         f"class file (native nets stream every drawing unless --quickdraw_per_class N caps it; TF-Hub "
         f"heads take 1000 by default).")
    bad = stream.BadRows()
    pct = (config.testing_percentage, config.validation_percentage)
    excluded = frozenset()
    if config.exclude_list:  # the same names as the TF-Hub family's records: "<label>/<file>#<row>"
        from retrain.data.exclude import match_note, read_exclude_list
        excluded = frozenset(read_exclude_list(config.exclude_list))
        matched = matched_keys(class_sources, excluded)
        echo(f"Leaving out the drawings listed in {config.exclude_list} ({len(excluded)} names).")
        echo(match_note(config.exclude_list, set(excluded), len(matched), excluded - matched))
        whole = [s for s in class_sources if s.label in matched.whole_classes]
        if whole:
            # A class the model never sees must not be one of its outputs: dropped, the rest re-indexed.
            echo(f"Every drawing of {', '.join(repr(s.label) for s in whole)} is excluded: dropped as "
                 f"output class(es).")
            class_sources = [stream.ClassSource(s.label, i, s.path, s.kind)
                             for i, s in enumerate(s for s in class_sources if s not in whole)]
            if len(class_sources) < 2:
                raise DatasetError(f"--exclude_list {config.exclude_list} leaves {len(class_sources)} "
                                   f"class(es); a classifier needs at least 2. Exclude fewer drawings.")
        labels = tuple(s.label for s in class_sources)

    def split(name, shard=(0, 1)):
        return stream.SplitSpec(name, *pct, max_per_class=max_per_class, shard=shard, excluded=excluded)

    train_counts = stream.count_split(class_sources, split("training", shard), bad)
    train_count = sum(train_counts.values())
    if not train_count:
        raise DatasetError("No training drawings after the split; add drawings or lower the percentages.")
    all_train_count = train_count if shard[1] == 1 else \
        sum(stream.count_split(class_sources, split("training"), stream.BadRows()).values())

    def test_records():
        return split_records(class_sources, split("testing"))

    def validation_records():
        return split_records(class_sources, split("validation"))

    def splits_json():
        # Training and validation: a bounded sample (export calibrates on it); testing: all of it, the
        # set the final evaluation scored.
        per_class = max(1, SPLIT_SAMPLE // max(1, len(labels)))
        return {"image_dir": None, "quickdraw_dir": os.path.abspath(config.quickdraw_dir), "sampled": True,
                **{n: split_sample(class_sources, split(n), per_class) for n in ("training", "validation")},
                "testing": [r.relpath for r in test_records()]}

    def training_names():
        # Counts per class, not a list of millions of keys: enough to tell two runs' data apart.
        counts = stream.count_split(class_sources, split("training", shard), stream.BadRows())
        return [f"{source.path}:{counts.get(source.label, 0)}" for source in class_sources]

    return NativeData(
        labels=labels, train_count=train_count,
        train=lambda **options: stream.dataset(class_sources, split("training", shard), bad,
                                               counts=[train_counts[s.label] for s in class_sources], **options),
        validation=lambda: stream.dataset(class_sources, split("validation"), bad),
        testing=lambda: stream.dataset(class_sources, split("testing"), bad),
        test_names=None, splits_json=splits_json,
        warnings=bad.lines,
        test_records=test_records, validation_records=validation_records, training_names=training_names,
        train_counts=tuple((s.label, train_counts[s.label]) for s in class_sources),
        teacher_targets=lambda model_dir, cache_dir, say: _teacher_targets(
            model_dir, class_sources, split("training", shard), labels, cache_dir, say),
        all_train_count=all_train_count)


def image_data(config, size: int, shard: tuple) -> NativeData:
    """--image_dir: per-class folders of image files, scanned, excluded and split as the TF-Hub family
    does (pipeline.load_index / split_index), pixels read lazily (image_stream.py).

    Raises:
      DatasetError: fewer than 2 classes, no training images, or white-on-black drawings.
    """
    from retrain.data.loading import load_index, split_index
    from retrain.families.native import image_stream
    index = load_index(config)
    splits = split_index(index, config)
    image_stream.check_polarity(config.image_dir, index.records)
    train_count = len(splits["training"][shard[0]::shard[1]])

    def train(shuffle_buffer=0, class_balanced=False, repeat=False, seed=0, weighting="data"):
        # Each class's file list is shuffled whole every pass (names only); shuffle_buffer bounds pixels,
        # not needed here. Classes are drawn by the same per-pass schedule as QuickDraw files.
        return image_stream.dataset(splits["training"], size, shuffle=True,
                                    weighting="balanced" if class_balanced else weighting, repeat=repeat,
                                    seed=seed, shard=shard, num_classes=len(index.labels))

    return NativeData(
        labels=index.labels, train_count=train_count, train=train,
        validation=lambda: image_stream.dataset(image_stream.round_robin(splits["validation"]), size),
        testing=lambda: image_stream.dataset(splits["testing"], size),
        test_names=tuple(r.relpath for r in splits["testing"]),
        splits_json=lambda: {"image_dir": os.path.abspath(config.image_dir), "quickdraw_dir": None,
                             **{n: [r.relpath for r in records] for n, records in splits.items()}},
        warnings=lambda: [], test_records=lambda: list(splits["testing"]),
        validation_records=lambda: list(splits["validation"]),
        training_names=lambda: [r.relpath for r in splits["training"]],
        train_counts=tuple((label, sum(1 for r in splits["training"][shard[0]::shard[1]] if r.label == label))
                           for label in index.labels),
        all_train_count=len(splits["training"]))


class MatchedKeys(frozenset):
    """The exclude-list names that are drawings of the run's files; `whole_classes`: labels whose every
    drawing is listed."""
    whole_classes: frozenset = frozenset()


def matched_keys(class_sources, names) -> MatchedKeys:
    """Which `names` ("<label>/<file>#<row>") name a drawing of `class_sources` (row within the file)."""
    from convert import sources as readers
    from retrain.families.native import stream
    by_key = {(s.label, os.path.basename(s.path)): s for s in class_sources}
    totals: dict = {}
    per_class: dict = {}
    matched = set()
    for name in names:
        head, _, row = name.rpartition("#")
        label, _, file = head.rpartition("/")
        source = by_key.get((label, file))
        if source is None or not (row.isascii() and row.isdigit()):
            continue
        if source.label not in totals:
            try:
                totals[source.label] = (readers.open_bitmaps(source.path).shape[0] if source.kind == "npy"
                                        else len(readers.index_lines(source.path)))
            except readers.SourceError:
                totals[source.label] = 0
        if int(row) < totals[source.label] and name == stream.key(source, int(row)):
            matched.add(name)
            per_class[source.label] = per_class.get(source.label, 0) + 1
    result = MatchedKeys(matched)
    result.whole_classes = frozenset(label for label, n in per_class.items() if n >= totals[label] > 0)
    return result


def split_sample(class_sources, split, limit_per_class) -> list:
    """A bounded sample of a set's keys for splits.json (export verifies/calibrates on them): the first
    `limit_per_class` drawings of each .npy file that `split` (a stream.SplitSpec, so max_per_class and
    the exclude list hold) streams, so export tests on the drawings the run was tested on."""
    from retrain.families.native import stream
    keys = []
    for source in class_sources:
        if source.kind != "npy":
            continue  # export renders .ndjson rows itself; a bounded .npy sample is enough to verify
        rows = stream.sources.open_bitmaps(source.path).shape[0]
        total = min(50000, rows, split.max_per_class or rows)
        taken = 0
        for row in range(total):
            if taken >= limit_per_class:
                break
            if split.wants(source, row):
                keys.append(stream.key(source, row))
                taken += 1
    return keys


def split_records(class_sources, split) -> list:
    """Every drawing of a set as an ImageRecord ("<label>/<file>#<row>", the file, the row), in class
    order: what the final evaluation scores and splits.json lists."""
    from retrain.data.dataset import ImageRecord
    from retrain.families.native import stream
    records = []
    for source in class_sources:
        for row in stream.split_rows(source, split):
            records.append(ImageRecord(label=source.label, label_index=source.label_index,
                                       relpath=stream.key(source, row), source=source.path, row=row))
    return records


def _teacher_targets(model_dir, class_sources, split, labels, cache_dir, echo):
    from retrain.families.distilled.teacher import soft_targets
    return soft_targets(model_dir, class_sources, split, labels, cache_dir, echo)
