"""Rendering augmentation for drawings: the many ways an app may bring a doodle to the model.

A model that only ever saw one rendering (convert's 64-px Lanczos look) fails on others: nearest-
neighbour upscaling, thin strokes on a phone canvas, JPEG. Training on random renderings fixes that.
Two entry points, both pure NumPy/PIL and seeded only by the `rng` passed in (the caller derives it from
(seed, record key, rendering index), see `rng_for`), neither touching labels:

  augment_strokes(strokes, rng) -> strokes        jitter, then re-render at a random width (`stroke_contract`)
  augment_bitmap(pixels, rng) -> pixels           resampling, ink width, blur, binarisation, position,
                                                  scale and JPEG on a black-on-white grayscale image

Photos get none of this (see retrain/data/renderings.py): their look is not a rendering choice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io

import numpy as np
from PIL import Image, ImageFilter

from convert.drawing import DEFAULT_CONTRACT, RESAMPLING, DrawingContract

# Part of the bottleneck keys of augmented renderings: bump when anything below changes.
AUGMENT_VERSION = 1
_FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box")


def rng_for(seed: int, key: bytes | str, rendering: int) -> np.random.Generator:
    """The generator of one rendering of one drawing: same (seed, key, index), same pixels."""
    key = key.encode() if isinstance(key, str) else key
    digest = hashlib.sha256(f"{seed}|{rendering}|".encode() + key).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def augment_strokes(strokes, rng: np.random.Generator):
    """Strokes with a small random affine distortion and point jitter (a different hand)."""
    angle = np.deg2rad(rng.uniform(-8, 8))
    sx, sy = rng.uniform(0.85, 1.15, size=2)
    shear = rng.uniform(-0.1, 0.1)
    matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ \
        np.array([[sx, shear], [0, sy]])
    out = []
    for xs, ys in strokes:
        points = np.column_stack([np.asarray(xs, np.float64), np.asarray(ys, np.float64)])
        if len(points):
            points = points @ matrix.T + rng.normal(0, 1.0, size=points.shape)
        out.append([points[:, 0].tolist(), points[:, 1].tolist()])
    return out


def stroke_contract(rng: np.random.Generator, base: DrawingContract = DEFAULT_CONTRACT) -> DrawingContract:
    """The contract at a random stroke width (thin phone lines to thick markers) and filter."""
    width = float(np.exp(rng.uniform(np.log(3.0), np.log(28.0))))
    return dataclasses.replace(base, stroke_width=width, resample=str(rng.choice(["lanczos", "bilinear", "box"])))


def _resize(image: Image.Image, side: int, rng) -> Image.Image:
    return image.resize((side, side), RESAMPLING[str(rng.choice(_FILTERS))])


def augment_bitmap(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random re-rendering of a black-on-white grayscale drawing, same size as given.

    Args:
        pixels: uint8 (h, w) (or (h, w, 3), first channel used), ink dark on white paper, any size
            (a 28x28 bitmap is first brought up to 64 px by a random filter).
        rng: the rendering's generator (`rng_for`).

    Returns:
        uint8 (h, w) (or (max(h, 64), ...) for bitmaps under 64 px).
    """
    gray = np.asarray(pixels, dtype=np.uint8)
    if gray.ndim == 3:
        gray = gray[..., 0]
    side = max(gray.shape[0], 64)
    image = Image.fromarray(gray)
    # Work at twice the side, so thinning and blurring act below the output's pixel size.
    work = 2 * side
    image = _resize(image, work, rng)
    # Position and scale in the frame.
    scale = rng.uniform(0.7, 1.1)
    shift = rng.uniform(-0.08, 0.08, size=2) * work
    inverse = 1 / scale
    centre = work / 2
    image = image.transform((work, work), Image.Transform.AFFINE,
                            (inverse, 0, centre - inverse * (centre + shift[0]),
                             0, inverse, centre - inverse * (centre + shift[1])),
                            resample=Image.Resampling.BILINEAR, fillcolor=255)
    # Ink width: MaxFilter on white paper thins dark ink, MinFilter thickens it.
    change = rng.choice(["thin", "thinner", "none", "thick"], p=[0.35, 0.2, 0.25, 0.2])
    if change == "thin":
        image = image.filter(ImageFilter.MaxFilter(3))
    elif change == "thinner":
        image = image.filter(ImageFilter.MaxFilter(5))
    elif change == "thick":
        image = image.filter(ImageFilter.MinFilter(3))
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0))))
    if rng.random() < 0.3:
        threshold = int(rng.integers(100, 200))
        image = image.point(lambda v: 255 if v > threshold else 0)
    image = _resize(image, side, rng)
    if rng.random() < 0.4:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(15, 90)))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    return np.asarray(image, dtype=np.uint8)
