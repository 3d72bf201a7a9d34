"""Cached bottlenecks of one split, for the head: a NumPy array when small, streamed when large.

A run on the whole Quick, Draw! set caches 3.4M feature vectors (14 GB at 1024 floats); holding them in
one array (what `BottleneckCache.load` returns) needs that much RAM. Above `STREAM_ABOVE_BYTES` a split
is instead read from the part files as the pipeline goes: training walks the part files in a new random
order each pass and mixes them in a bounded shuffle buffer; validation, test and prediction read them
in batches. What stays in memory per split is a few bytes per record (which part, which row, label)
plus the shuffle buffer and a part file or so in flight, whatever the number of cached features.

Part files are read whole through zipfile (bounded by FLUSH_EVERY rows each), so their CRC is checked
just as `load` checks it: a corrupt part raises the same DatasetError and is set aside the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, Iterator, Optional

import numpy as np

from retrain.families.hub_head.bottlenecks import CachedLocations, group_by_part, read_part_features
from common.errors import DatasetError

# Below this a split is loaded as one array: faster for small runs, and it keeps their results exactly
# what they were before streaming existed (the same from_tensor_slices shuffle). 256 MiB is 65k
# features of 1024 floats, well under any machine's RAM and well over the shared 13-class set.
STREAM_ABOVE_BYTES = 256 << 20
# Features held by the training shuffle buffer (80 MB at 1024 floats). Part files hold consecutive
# drawings of one class; 20k features mix ~80 parts, i.e. every batch draws from dozens of classes.
TRAIN_SHUFFLE_BUFFER = 20_000
# Validation batches are drawn at random from a smaller buffer (a 100-image batch from 5000).
VALIDATION_SHUFFLE_BUFFER = 5_000
PREDICT_BATCH = 1024


@dataclasses.dataclass(frozen=True)
class FeatureSplit:
    """One split's cached features with labels and records.

    Attributes:
      locations: the kept records and where their features are (retrain.families.hub_head.bottlenecks.CachedLocations).
      labels: int64 [n], label index of each kept record.
      array: float32 [n, D] when the split is held in memory; None when it is streamed.
    """

    locations: CachedLocations
    labels: np.ndarray
    array: Optional[np.ndarray]

    @property
    def records(self) -> list:
        return self.locations.records

    @property
    def streamed(self) -> bool:
        return self.array is None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "FeatureSplit":
        """The records at `indices`, in that order (still streamed if this split is)."""
        indices = np.asarray(indices, np.int64)
        return FeatureSplit(self.locations.subset(indices), self.labels[indices],
                            None if self.array is None else self.array[indices])


def load_split(locations: CachedLocations, stream_above_bytes: int) -> FeatureSplit:
    """The split in memory if its features fit in `stream_above_bytes`, else streamed from the parts.

    Raises:
      DatasetError: (in memory) a part file is corrupt; it is set aside, rerun to recompute it.
    """
    labels = np.array([r.label_index for r in locations.records], dtype=np.int64)
    size = len(locations) * locations.feature_size * 4
    array = locations.gather(np.arange(len(locations))) if size <= stream_above_bytes else None
    return FeatureSplit(locations, labels, array)


class StreamErrors:
    """The DatasetError a streaming generator raised.

    tf.data turns an exception inside a generator into an opaque tf.errors.OpError in whoever iterates
    (model.fit, predict); `reraised` turns it back into the DatasetError, whose message says what to do.
    """

    def __init__(self):
        self.error: Optional[DatasetError] = None

    @contextlib.contextmanager
    def reraised(self):
        from common.tfcompat import tf
        try:
            yield
        except tf.errors.OpError:
            if self.error is not None:
                raise self.error from None
            raise


def _part_chunks(locations: CachedLocations, labels: np.ndarray, errors: StreamErrors,
                 seed: Optional[int]) -> Callable[[int], Iterator]:
    """A generator function of the pass number: per part file, (features [k, D], labels [k]) of this
    split's rows in it.

    Pass p reads the parts in the random order seeded by (seed, p): the same in every process, so the
    workers of a multi-worker run stream the same sequence and the DATA auto-shard policy gives each
    its own disjoint batches. The order spreads each class's parts evenly through the pass
    (retrain/data/sampling.py's rule, the native streams' too), so no stretch of a pass, beginning or
    end, holds only a few classes. With seed None, parts come in the fixed order `part_order` gives.
    """
    from retrain.data.sampling import spread_order
    groups = list(group_by_part(locations.parts))
    # A part holds consecutive drawings, mostly of one class: the class of its first row stands for it.
    group_classes = [int(labels[positions[0]]) for _, positions in groups]

    def generate(pass_index):
        order = (spread_order(group_classes, seed, int(pass_index)) if seed is not None
                 else range(len(groups)))
        for g in order:
            part, positions = groups[g]
            try:
                features = read_part_features(locations.paths[part])
            except DatasetError as error:
                errors.error = error
                raise
            yield features[locations.rows[positions]], labels[positions].astype(np.int32)
    return generate


def part_order(locations: CachedLocations) -> np.ndarray:
    """The record order `_part_chunks(seed=None)` yields: record positions grouped by part file."""
    groups = list(group_by_part(locations.parts))
    return np.concatenate([positions for _, positions in groups]) if groups else np.zeros(0, np.int64)


def _chunk_dataset(split: FeatureSplit, errors: StreamErrors, seed: Optional[int]):
    """Per-part chunks: one pass in part order (seed None), else passes 0, 1, ... each in its own order.

    The pass number comes from a counter in the pipeline, not from state in Python, so iterating the
    dataset again starts again at pass 0, as a repeated in-memory dataset does.
    """
    from common.tfcompat import tf
    size = split.locations.feature_size
    generate = _part_chunks(split.locations, split.labels, errors, seed)

    def one_pass(pass_index):
        return tf.data.Dataset.from_generator(
            generate, args=(pass_index,),
            output_signature=(tf.TensorSpec([None, size], tf.float32), tf.TensorSpec([None], tf.int32)))
    if seed is None or not len(split):  # an empty split repeated forever would never yield: one pass
        return one_pass(tf.constant(0, tf.int64))
    return tf.data.Dataset.counter().flat_map(one_pass)


def training_dataset(split: FeatureSplit, num_classes: int, batch_size: int, seed: int,
                     errors: StreamErrors, shuffle_buffer: int = TRAIN_SHUFFLE_BUFFER):
    """Shuffled, repeating (features, one-hot) batches of `batch_size`, streamed from the part files."""
    from common.tfcompat import tf
    from retrain.families.hub_head.train import distributed_options
    # The passes repeat inside the pipeline (each in its own order), so reshuffling per iteration adds
    # nothing; without it every iteration, in every worker process, yields the same sequence.
    return (_chunk_dataset(split, errors, seed).unbatch()
            .shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=False)
            .batch(batch_size, drop_remainder=True)
            .map(lambda x, y: (x, tf.one_hot(y, num_classes)))
            .prefetch(tf.data.AUTOTUNE).with_options(distributed_options()))


def validation_batches(split: FeatureSplit, num_classes: int, validation_batch_size: int, seed: int,
                       errors: StreamErrors) -> Optional[Callable]:
    """retrain.py's validation, streamed: each evaluation a random batch, or (-1) the whole split.

    Returns None for an empty split, else a callable giving one evaluation's (x, one-hot y) batches.
    """
    from common.tfcompat import tf
    if not len(split):
        return None

    def one_hot(x, y):
        return x, tf.one_hot(y, num_classes)
    if 0 <= validation_batch_size < len(split):
        stream = iter(_chunk_dataset(split, errors, seed).unbatch()
                      .shuffle(VALIDATION_SHUFFLE_BUFFER, seed=seed).batch(validation_batch_size).map(one_hot))
        return lambda: [next(stream)]
    every = _chunk_dataset(split, errors, None).unbatch().batch(PREDICT_BATCH).map(one_hot)
    return lambda: iter(every)


def predict_logits(head, split: FeatureSplit, errors: StreamErrors) -> np.ndarray:
    """The head's outputs for every record of the split, in the split's record order."""
    if split.array is not None:
        return head.predict(split.array, batch_size=PREDICT_BATCH, verbose=0)
    dataset = _chunk_dataset(split, errors, None).unbatch().batch(PREDICT_BATCH).map(lambda x, y: x)
    steps = -(-len(split) // PREDICT_BATCH)  # a generator has no known length; a compiled head needs it
    with errors.reraised():
        in_part_order = head.predict(dataset, steps=steps, verbose=0)
    logits = np.empty_like(in_part_order)
    logits[part_order(split.locations)] = in_part_order  # back to the records' order
    return logits
