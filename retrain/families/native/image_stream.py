"""Streaming an `--image_dir` (one folder of drawings per class) into the native nets.

The files are found, checked, left out by `--exclude_list` and split exactly as for the TF-Hub family
(retrain/run/story.py's `load_index` / `split_index`: retrain/data/dataset.py's scan, retrain/data/split.py's hash
of each path relative to the image folder), so both families train and test on the same files. Only
the file names are held in memory; pixels are read lazily through tf.data: decode (alpha composited on
white, as retrain/data/images.py does for every model), the channel mean (what the nets' DrawingInput layer
takes of the RGB contract), an antialiased resize to the net's side, and the inversion to the `.npy`
rows' convention that stream.py feeds: uint8 ink 255 on paper 0. The training code downstream cannot
tell an image from a `.npy` row.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import numpy as np

from retrain.data.dataset import ImageRecord
from common.errors import DatasetError
from retrain.data.bitmap_ink import decode_ink

CONVERT_SETTINGS_FILE = ".qdretrain_convert.json"  # what `qdretrain convert` records (convert/pipeline.py)
POLARITY_SAMPLE = 8  # images looked at per class when the folder does not say its polarity
DARK_PAPER_PIXELS = 0.5  # an image with more than this share of dark pixels has dark paper
LIGHT_PAPER_PIXELS = 0.5  # a drawing on white has at least this share of near-white pixels; a photo not


def image_look(path: str) -> Optional[str]:
    """"black_on_white", "white_on_black" or "photo" for one image file (None: unreadable).

    A doodle is mostly paper: mostly dark pixels means dark paper; neither mostly dark nor mostly
    near-white means it is no drawing at all (a photo)."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L"), dtype=np.uint8)
    except Exception:  # unreadable files are the scan's business, not a vote
        return None
    if (gray < 128).mean() > DARK_PAPER_PIXELS:
        return "white_on_black"
    if (gray >= 200).mean() < LIGHT_PAPER_PIXELS:
        return "photo"
    return "black_on_white"


def class_looks(records: Sequence[ImageRecord]) -> dict:
    """label -> the look of most of its sampled images (POLARITY_SAMPLE spread over each class), so one
    white-on-black class among several black-on-white ones is seen, not outvoted."""
    by_class: dict = {}
    for record in records:
        by_class.setdefault(record.label, []).append(record)
    looks = {}
    for label, members in by_class.items():
        picked = [members[i] for i in np.linspace(0, len(members) - 1,
                                                  min(POLARITY_SAMPLE, len(members))).astype(int)]
        votes: dict = {}
        for record in picked:
            look = image_look(record.source)
            if look:
                votes[look] = votes.get(look, 0) + 1
        if votes:
            looks[label] = max(sorted(votes), key=votes.get)
    return looks


def folder_polarity(image_dir: str, records: Sequence[ImageRecord]) -> str:
    """"black_on_white" or "white_on_black": what `convert` recorded, else white_on_black if any class
    looks so (see class_looks).

    Args:
      image_dir: the dataset root (where `convert` writes its settings file).
      records: the scanned images (a few of each class are looked at).
    """
    recorded = _recorded_polarity(image_dir)
    if recorded:
        return recorded
    return "white_on_black" if "white_on_black" in class_looks(records).values() else "black_on_white"


def _recorded_polarity(image_dir: str) -> Optional[str]:
    settings = os.path.join(image_dir, CONVERT_SETTINGS_FILE)
    try:
        with open(settings, encoding="utf-8") as handle:
            polarity = json.load(handle).get("polarity")
        if polarity in ("black_on_white", "white_on_black"):
            return polarity
    except (OSError, ValueError, AttributeError):
        pass  # not written by convert (or unreadable): look at the images themselves
    return None


def check_polarity(image_dir: str, records: Sequence[ImageRecord]) -> None:
    """Refuses light ink on dark paper, and photos, class by class: the native nets' input contract is
    black ink on white, and export verifies the model on these same files, so they must follow it.

    Raises:
      DatasetError: the folder (or one of its classes) holds white-on-black drawings, or photos.
    """
    advice = ("Convert again with `qdretrain convert --polarity black_on_white`, or train with "
              "--quickdraw_dir.")
    if _recorded_polarity(image_dir) == "white_on_black":
        raise DatasetError(f"{image_dir} holds light ink on dark paper (white_on_black); native nets take "
                           f"black ink on white, as an app draws it. {advice}")
    looks = class_looks(records)
    inverted = sorted(label for label, look in looks.items() if look == "white_on_black")
    if inverted:
        raise DatasetError(f"{image_dir}: class(es) {', '.join(map(repr, inverted[:5]))} hold light ink on dark "
                           f"paper (white_on_black); native nets take black ink on white, as an app draws "
                           f"it. Invert those images, or {advice[0].lower()}{advice[1:]}")
    photos = sorted(label for label, look in looks.items() if look == "photo")
    if photos:
        raise DatasetError(f"{image_dir}: class(es) {', '.join(map(repr, photos[:5]))} do not look like "
                           f"drawings (little white paper: photos?). Native nets learn doodles, black ink "
                           f"on white; for photos pick a TF-Hub architecture (`qdretrain architectures`).")


def round_robin(records: Sequence[ImageRecord]) -> list[ImageRecord]:
    """One record of each class in turn (each class in its given order), as stream.py interleaves
    classes: training's validation reads only the first batches of its set, and the split's own order
    (sorted by class) would validate on the first class alone."""
    by_class: dict[int, list[ImageRecord]] = {}
    for record in records:
        by_class.setdefault(record.label_index, []).append(record)
    queues = [by_class[i] for i in sorted(by_class)]
    return [queue[i] for i in range(max(map(len, queues), default=0)) for queue in queues if i < len(queue)]


def mixed_files(records: Sequence[ImageRecord], num_classes: int, weighting: str, seed: int, repeat: bool):
    """(path, label) of training draws: pass after pass, each class in its `weighting` share spread
    evenly through the pass (retrain/data/sampling.py), each class's files in a fresh random order per
    cycle through them. Memory: the file names (already held) and one pass's class ids."""
    from retrain.data import sampling
    by_class = [[r.source for r in records if r.label_index == i] for i in range(num_classes)]
    counts = [len(c) for c in by_class]
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 1 << 20])
    orders = [rng.permutation(len(c)) for c in by_class]
    next_at = [0] * num_classes
    pass_index = 0
    while True:
        for c in sampling.pass_schedule(counts, weighting, seed, pass_index):
            if next_at[c] == len(by_class[c]):
                orders[c], next_at[c] = rng.permutation(len(by_class[c])), 0
            yield by_class[c][orders[c][next_at[c]]], np.int64(c)
            next_at[c] += 1
        pass_index += 1
        if not repeat:
            return


def dataset(records: Sequence[ImageRecord], size: int, *, shuffle: bool = False, weighting: str = "",
            repeat: bool = False, seed: int = 0, shard: tuple = (0, 1), num_classes: Optional[int] = None):
    """A tf.data.Dataset of (uint8 [size, size, 1] ink, int64 label), read lazily from image files.

    Args:
      records: one split's images (retrain/data/split.py).
      size: the net's input side.
      shuffle: reshuffle the file list every pass (file names only, so the whole list fits).
      weighting: "data" | "sqrt" | "balanced": training draws, each class in that share spread evenly
        through every pass (retrain/data/sampling.py); "": every file once, in the given order.
      repeat: repeat forever (training; the caller counts steps).
      seed: shuffling/sampling seed.
      shard: (index, count): this worker's files, every count-th one.
      num_classes: the number of labels (needed with a weighting).
    """
    from common.tfcompat import tf
    records = list(records)[shard[0]::shard[1]]

    if weighting:
        classes = num_classes or (max(r.label_index for r in records) + 1)
        ds = tf.data.Dataset.from_generator(
            lambda: mixed_files(records, classes, weighting, seed, repeat),
            output_signature=(tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.int64)))
    else:
        # Typed explicitly: an empty split (--validation_percentage 0) would otherwise be float32 and
        # fail in ReadFile.
        ds = tf.data.Dataset.from_tensor_slices((tf.constant([r.source for r in records], tf.string),
                                                 np.array([r.label_index for r in records], np.int64)))
        if shuffle:
            ds = ds.shuffle(max(1, len(records)), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
    ds = ds.map(lambda path, label: (decode_ink(tf.io.read_file(path), size), label),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    # The scan checked every file's signature and end; one that still fails to decode is dropped (with
    # TensorFlow's warning line), as the TF-Hub family's bottleneck cache skips it, not the whole run.
    return ds.ignore_errors(log_warning=True)
