"""Real images for checking and calibrating exports: the held-back test split, the training split, a folder.

The model dir's splits.json lists each split's images relative to the training data (an image folder,
or QuickDraw files as "<label>/<file>#<row>"), so exports are checked on exactly the images training
held back, and int8 is calibrated on images the model was trained on.
Decoding and resizing is retrain/data/images.py's (the one the training used).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional, Sequence

import numpy as np

from common.errors import QdretrainError
from retrain.data.images import INPUT_MEAN, INPUT_STD

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


@dataclasses.dataclass(frozen=True)
class LabelledImages:
    """Images ready for the model.

    Attributes:
      names: where each image came from (path or QuickDraw "<label>/<file>#<row>").
      images: float32 [n, H, W, 3], normalised (in [-1, 1] for qdretrain models).
      label_indices: int [n], the true label's index in the model's labels, -1 where unknown.
    """

    names: tuple
    images: np.ndarray
    label_indices: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    @property
    def has_labels(self) -> bool:
        return len(self.names) > 0 and bool(np.all(self.label_indices >= 0))


def _retrain_style(name: str) -> str:
    # retrain.py's label names: lower case, runs of other characters -> one space.
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def label_index(label_name: Optional[str], labels: Sequence[str]) -> int:
    """Index of a folder/category name among the model's labels (exact, then retrain.py-style); -1 if none."""
    if label_name is None:
        return -1
    if label_name in labels:
        return list(labels).index(label_name)
    styled = [_retrain_style(label) for label in labels]
    return styled.index(_retrain_style(label_name)) if _retrain_style(label_name) in styled else -1


def load_pixels(path: str, height: int, width: int) -> np.ndarray:
    """An image file as float32 RGB pixels [height, width, 3] in [0, 255] (bilinear resize, like training).

    Raises:
      QdretrainError: unreadable, not an image, or above the pixel limit (checked from the header,
        before decoding, so an image bomb is refused instead of taking gigabytes).
    """
    from retrain.data.dataset import image_size_problem
    too_large = image_size_problem(path)
    if too_large:
        raise QdretrainError(f"Cannot read image {path}: {too_large}.")
    composited = _on_white_if_transparent(path)
    if composited is not None:
        from common.tfcompat import tf
        return np.clip(tf.image.resize(composited, [height, width], method="bilinear").numpy(), 0.0, 255.0)
    if height == width:
        from retrain.data.images import load_image_file
        try:
            # Training's own decoder; it returns the [-1, 1] input, mapped back to pixels here.
            return load_image_file(path, height) * INPUT_STD + INPUT_MEAN
        except (OSError, ValueError) as error:
            raise QdretrainError(f"Cannot read image {path}: {error}") from None
    # A non-square input (old graphs via label_image --input_height/--input_width): same decode and
    # bilinear resize, done here because retrain/data/images.py only resizes to squares.
    from PIL import Image

    from common.tfcompat import tf
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"), np.float32)
    except OSError as error:
        raise QdretrainError(f"Cannot read image {path}: {error}") from None
    return np.clip(tf.image.resize(pixels, [height, width], method="bilinear").numpy(), 0.0, 255.0)


def _on_white_if_transparent(path: str) -> Optional[np.ndarray]:
    """RGB pixels of an image with transparency, composited on white; None for an opaque image.

    A canvas drawing saved as a PNG is often black strokes on a *transparent* background; dropping
    alpha (what decoders do) would make it black on black. Doodles are drawn on white, so composite.
    """
    from PIL import Image
    try:
        with Image.open(path) as image:
            if image.format == "BMP":  # as in training: 32-bit BMPs usually leave alpha 0, so ignore it
                return None
            if image.mode not in ("RGBA", "LA", "PA") and not (image.mode == "P" and "transparency" in image.info):
                return None
            rgba = image.convert("RGBA")
    except OSError as error:
        raise QdretrainError(f"Cannot read image {path}: {error}") from None
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), np.float32)


def list_image_files(folder: str) -> list[str]:
    """Image files under `folder` (recursive), sorted; hidden files (e.g. macOS `._x.jpg`) skipped."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")]
    return found


def folder_items(folder: str) -> list[tuple[str, Optional[str]]]:
    """(path, label name) for images in a folder; the label is the first sub-folder's name, if any."""
    items = []
    for path in list_image_files(folder):
        parts = os.path.relpath(path, folder).split(os.sep)
        items.append((path, parts[0] if len(parts) > 1 else None))
    return items


def split_items(model_dir: str, split: str) -> list[tuple[str, Optional[str]]]:
    """(source, label name) for one split ("training" / "validation" / "testing") of a model dir.

    A source is an image path, or "<quickdraw file>#<row>" for models trained with --quickdraw_dir.

    Returns:
      [] when the model dir has no splits.json, the split is empty, or its data is not on this machine.
    """
    from retrain.model_folder import contract as outputs
    splits_path = os.path.join(model_dir, "splits.json")
    if not os.path.exists(splits_path):
        return []
    splits = outputs.read_json(splits_path)
    relpaths = splits.get(split) or []
    config_path = os.path.join(model_dir, outputs.RUN_CONFIG_FILE)
    config = outputs.read_json(config_path) if os.path.exists(config_path) else {}
    image_dir = splits.get("image_dir") or config.get("image_dir")
    quickdraw_dir = splits.get("quickdraw_dir") or config.get("quickdraw_dir")
    items = []
    for relpath in relpaths:
        label = relpath.split("/", 1)[0]
        if "#" in relpath and quickdraw_dir:
            file_name, row = relpath.split("/", 1)[1].rsplit("#", 1)
            folder = quickdraw_dir if os.path.isdir(quickdraw_dir) else os.path.dirname(quickdraw_dir)
            source = f"{os.path.join(folder, file_name)}#{row}"
            if os.path.exists(source.rsplit("#", 1)[0]):
                items.append((source, label))
        elif image_dir and os.path.exists(os.path.join(image_dir, relpath)):
            items.append((os.path.join(image_dir, relpath), label))
    return items


def _is_quickdraw(source: str) -> bool:
    return "#" in source and not os.path.exists(source)


def _render_quickdraw(sources: Sequence[str]) -> dict[str, np.ndarray]:
    """"<file>#<row>" sources -> rendered uint8 pixels, each file read once (retrain.data.images)."""
    from retrain.data.dataset import ImageRecord
    from retrain.data.images import render_drawings
    records = [ImageRecord(label="", label_index=0, relpath=s, source=s.rsplit("#", 1)[0],
                           row=int(s.rsplit("#", 1)[1])) for s in sources]
    return dict(zip(sources, render_drawings(records))) if records else {}


def _load_source_pixels(source: str, height: int, width: int, rendered: dict) -> np.ndarray:
    if source in rendered:
        from common.tfcompat import tf
        pixels = rendered[source].astype(np.float32)
        return np.clip(tf.image.resize(pixels, [height, width], method="bilinear").numpy(), 0.0, 255.0)
    return load_pixels(source, height, width)


def load_items(items: Sequence[tuple[str, Optional[str]]], labels: Sequence[str], height: int, width: int,
               mean: float, std: float, limit: Optional[int] = None, seed: int = 0,
               family: Optional[str] = None) -> LabelledImages:
    """Decodes, resizes and normalises images ((pixel - mean) / std).

    Args:
      items: (source, label name or None) pairs.
      labels: the model's labels (to turn label names into indices).
      height, width: the model's input size.
      mean, std: normalisation.
      limit: at most this many, picked with a seeded shuffle that keeps every class represented in
        proportion (None: all).
      seed: for the pick.
      family: model_info.json's "family" of a qdretrain model: its images are prepared by
        `model_inputs`, as training's final evaluation prepares them; None: any other model.
    """
    items = list(items)
    if limit is not None and len(items) > limit:
        order = np.random.default_rng(seed).permutation(len(items))[:limit]
        items = [items[i] for i in sorted(order)]
    if family is not None and height == width and (mean, std) == (INPUT_MEAN, INPUT_STD):
        # A qdretrain model: exactly the pixels its training and final evaluation used.
        return _family_items(items, labels, height, family)
    rendered = _render_quickdraw([source for source, _ in items if _is_quickdraw(source)])
    kept, pixels = [], []
    for source, label in items:
        try:
            pixels.append((_load_source_pixels(source, height, width, rendered) - mean) / std)
            kept.append((source, label))
        except QdretrainError as error:
            # One unreadable file must not stop a whole check; say which and go on.
            import warnings
            warnings.warn(f"skipped {error}", stacklevel=2)
    images = np.stack(pixels).astype(np.float32) if pixels else np.zeros((0, height, width, 3), np.float32)
    indices = np.array([label_index(label, labels) for _, label in kept], dtype=np.int64)
    return LabelledImages(names=tuple(s for s, _ in kept), images=images, label_indices=indices)



# ---------------------------------------------------------------------------------------------------
# The one way a test image becomes the model's input, for every family.
#
# Training's final evaluation, the rendering panel's "training" row and export's verification all call
# `model_inputs`, so the three print the same top-1 for the same model and images. Each family's pixels
# are the ones its training saw: the TF-Hub head's come from the bottleneck cache's decoder
# (retrain/data/images.py); a native net's from its bitmap ink (retrain/data/bitmap_ink.py).

NATIVE = "native"


def model_inputs(records: Sequence, size: int, family: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the records that could be read, float32 [n, size, size, 3] inputs in [-1, 1]).

    Args:
      records: ImageRecords (image files or QuickDraw rows).
      size: the model's input side.
      family: model_info.json's "family" ("native" or the TF-Hub head's "tfhub_head").
    """
    if family == NATIVE:
        return _native_inputs(records, size)
    from retrain.data.images import record_images_dataset
    pairs = [(int(i), x.numpy()) for i, x in record_images_dataset(records, size, deterministic=True)]
    pairs.sort(key=lambda pair: pair[0])
    return _stack(pairs, size)


def _stack(pairs, size: int) -> tuple[np.ndarray, np.ndarray]:
    if not pairs:
        return np.zeros([0], np.int64), np.zeros([0, size, size, 3], np.float32)
    return (np.array([i for i, _ in pairs], np.int64),
            np.stack([x for _, x in pairs]).astype(np.float32))


def _native_inputs(records: Sequence, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A native net's inputs: 28-px ink exactly as its training stream reads it, then ink_to_contract."""
    from retrain.data.bitmap_ink import ink_to_contract, read_inks
    inks: list[tuple[int, np.ndarray]] = []
    by_source: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        if record.row is None:
            ink = _file_ink(record.source, size)
            if ink is not None:
                inks.append((i, ink))
        else:
            by_source.setdefault(record.source, []).append(i)
    for source, indices in by_source.items():
        try:
            read = read_inks(source, [records[i].row for i in indices])
        except Exception:  # an unreadable file: its drawings are left out and counted by the caller
            continue
        inks += [(i, read[records[i].row][..., None]) for i in indices if records[i].row in read]
    inks.sort(key=lambda pair: pair[0])
    pairs = []
    for start in range(0, len(inks), 1024):
        chunk = inks[start:start + 1024]
        by_side: dict[int, list] = {}
        for i, ink in chunk:  # image files give ink at the net's side, rows at 28
            by_side.setdefault(ink.shape[0], []).append((i, ink))
        for group in by_side.values():
            x = ink_to_contract(np.stack([ink for _, ink in group]), size).numpy()
            pairs += [(i, x[k]) for k, (i, _) in enumerate(group)]
    pairs.sort(key=lambda pair: pair[0])
    return _stack(pairs, size)


def _file_ink(path: str, size: int) -> Optional[np.ndarray]:
    """uint8 ink [size, size, 1] of an image file, as the native --image_dir stream decodes it."""
    from common.tfcompat import tf
    from retrain.data.bitmap_ink import decode_ink
    try:
        return decode_ink(tf.io.read_file(path), size).numpy()
    except (tf.errors.OpError, ValueError):  # unreadable: left out, as the training stream drops it
        return None


def records_for(items: Sequence[tuple[str, Optional[str]]], labels: Sequence[str]) -> list:
    """(source, label name) items -> ImageRecords ("<file>#<row>" sources become QuickDraw rows)."""
    from retrain.data.dataset import ImageRecord
    records = []
    for source, label in items:
        row = None
        if _is_quickdraw(source):
            source, row_text = source.rsplit("#", 1)
            row = int(row_text)
        records.append(ImageRecord(label=label or "", label_index=label_index(label, labels),
                                   relpath=source if row is None else f"{source}#{row}", source=source, row=row))
    return records


def _family_items(items, labels, size: int, family: str) -> LabelledImages:
    records = records_for(items, labels)
    kept, images = model_inputs(records, size, family)
    if len(kept) < len(records):
        import warnings
        warnings.warn(f"skipped {len(records) - len(kept)} image(s) that could not be read", stacklevel=3)
    names = tuple(records[i].relpath if records[i].row is not None else records[i].source for i in kept)
    indices = np.array([records[i].label_index for i in kept], dtype=np.int64)
    return LabelledImages(names=names, images=images, label_indices=indices)


def predictor(classifier, batch_size: int = 256):
    """`predict(inputs) -> scores` for a Keras classifier, batch by batch (memory stays flat), with ONE
    traced function for all calls: a caller scoring many small batches (the rendering panel) would
    otherwise retrace per call, which is slow and makes TensorFlow warn about retracing."""
    from common.tfcompat import tf
    forward = tf.function(lambda x: classifier(x, training=False), reduce_retracing=True)

    def predict(inputs: np.ndarray) -> np.ndarray:
        if not len(inputs):
            return np.zeros((0, classifier.output_shape[-1]), np.float32)
        return np.concatenate([np.asarray(forward(inputs[s:s + batch_size]))
                               for s in range(0, len(inputs), batch_size)])
    return predict


def predict_in_batches(classifier, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax scores of a Keras classifier over float inputs, batch by batch (memory stays flat)."""
    return predictor(classifier, batch_size)(inputs)
