"""Real images for checking and calibrating exports: the held-back test split, the training split, a folder.

The model dir's splits.json lists each split's images relative to the training data (an image folder,
or QuickDraw files as "<label>/<file>#<row>"), so exports are checked on exactly the images training
held back, and int8 is calibrated on images the model was trained on.
Decoding and resizing is retrain/images.py's (the one the training used).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional, Sequence

import numpy as np

from retrain.errors import QdretrainError

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
    from retrain.dataset import image_size_problem
    too_large = image_size_problem(path)
    if too_large:
        raise QdretrainError(f"Cannot read image {path}: {too_large}.")
    composited = _on_white_if_transparent(path)
    if composited is not None:
        from retrain.tfcompat import tf
        return np.clip(tf.image.resize(composited, [height, width], method="bilinear").numpy(), 0.0, 255.0)
    if height == width:
        from retrain.architectures import INPUT_MEAN, INPUT_STD
        from retrain.images import load_image_file
        try:
            # Training's own decoder; it returns the [-1, 1] input, mapped back to pixels here.
            return load_image_file(path, height) * INPUT_STD + INPUT_MEAN
        except (OSError, ValueError) as error:
            raise QdretrainError(f"Cannot read image {path}: {error}") from None
    # A non-square input (old graphs via label_image --input_height/--input_width): same decode and
    # bilinear resize, done here because retrain/images.py only resizes to squares.
    from PIL import Image

    from retrain.tfcompat import tf
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
    from retrain import outputs
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
    """"<file>#<row>" sources -> rendered uint8 pixels, each file read once (retrain.images)."""
    from retrain.dataset import ImageRecord
    from retrain.images import render_drawings
    records = [ImageRecord(label="", label_index=0, relpath=s, source=s.rsplit("#", 1)[0],
                           row=int(s.rsplit("#", 1)[1])) for s in sources]
    return dict(zip(sources, render_drawings(records))) if records else {}


def _load_source_pixels(source: str, height: int, width: int, rendered: dict) -> np.ndarray:
    if source in rendered:
        from retrain.tfcompat import tf
        pixels = rendered[source].astype(np.float32)
        return np.clip(tf.image.resize(pixels, [height, width], method="bilinear").numpy(), 0.0, 255.0)
    return load_pixels(source, height, width)


def load_items(items: Sequence[tuple[str, Optional[str]]], labels: Sequence[str], height: int, width: int,
               mean: float, std: float, limit: Optional[int] = None, seed: int = 0) -> LabelledImages:
    """Decodes, resizes and normalises images ((pixel - mean) / std).

    Args:
      items: (source, label name or None) pairs.
      labels: the model's labels (to turn label names into indices).
      height, width: the model's input size.
      mean, std: normalisation.
      limit: at most this many, picked with a seeded shuffle that keeps every class represented in
        proportion (None: all).
      seed: for the pick.
    """
    items = list(items)
    if limit is not None and len(items) > limit:
        order = np.random.default_rng(seed).permutation(len(items))[:limit]
        items = [items[i] for i in sorted(order)]
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

