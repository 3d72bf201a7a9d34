"""Drawings -> PIL images: 28x28 bitmaps resized, strokes rendered with anti-aliasing.

Both give a grayscale ("L") image of the requested size in the requested polarity. Internally ink is
255 on 0 (QuickDraw's own convention) and inverted at the end for paper-like black on white.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from convert.sources import BITMAP_SIDE

RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
POLARITIES = ("white_on_black", "black_on_white")
# Simplified drawings live on a 256x256 canvas (coordinates 0..255).
CANVAS = 256.0


@dataclasses.dataclass(frozen=True)
class RenderOptions:
    """How drawings become images.

    Attributes:
        size: output side in pixels (square).
        resample: a key of RESAMPLING; used to resize bitmaps and to downsample supersampled strokes.
        polarity: "white_on_black" (QuickDraw's bitmaps) or "black_on_white" (paper-like).
        stroke_width: line width for strokes in 256-canvas units; 16 with `padding` 16 matches the look
            of Google's 28x28 bitmaps (their published rendering recipe).
        padding: blank margin around a stroke drawing, in canvas units.
        supersample: strokes are drawn this many times larger, then downsampled: the anti-aliasing.
    """
    size: int = 64
    resample: str = "lanczos"
    polarity: str = "black_on_white"
    stroke_width: float = 16.0
    padding: float = 16.0
    supersample: int = 4

    def __post_init__(self):
        if self.size < 8:
            raise ValueError(f"size must be at least 8 pixels, not {self.size}")
        if self.resample not in RESAMPLING:
            raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, not {self.resample!r}")
        if self.polarity not in POLARITIES:
            raise ValueError(f"polarity must be one of {', '.join(POLARITIES)}, not {self.polarity!r}")
        if self.stroke_width <= 0 or self.supersample < 1 or self.padding < 0:
            raise ValueError("stroke_width must be > 0, supersample >= 1, padding >= 0")


def _finish(ink: Image.Image, options: RenderOptions) -> Image.Image:
    """Applies the polarity to an ink-is-white image."""
    if options.polarity == "black_on_white":
        return Image.eval(ink, lambda value: 255 - value)
    return ink


def render_bitmap(row: np.ndarray, options: RenderOptions) -> Image.Image:
    """A numpy_bitmap drawing as an image.

    Args:
        row: 784 (or 28x28) uint8 pixels, ink 255 on 0.
        options: size, resampling, polarity.

    Returns:
        A grayscale image `options.size` square.
    """
    image = Image.fromarray(np.ascontiguousarray(row, dtype=np.uint8).reshape(BITMAP_SIDE, BITMAP_SIDE))
    if options.size != BITMAP_SIDE:
        image = image.resize((options.size, options.size), RESAMPLING[options.resample])
    return _finish(image, options)


def render_strokes(strokes: Sequence[tuple[Sequence[float], Sequence[float]]],
                   options: RenderOptions) -> Image.Image:
    """Renders simplified strokes, anti-aliased, centred with a margin.

    Drawn at `size * supersample` with the line width scaled to match, round joins and caps (a disc at
    every point), then downsampled with `options.resample`: far sharper than upscaling a 28x28 bitmap.
    Drawings larger than the 256 canvas (raw files) are scaled down to fit.

    Args:
        strokes: `(xs, ys)` per stroke.
        options: size, resampling, polarity, stroke width, padding, supersampling.

    Returns:
        A grayscale image `options.size` square.

    Raises:
        ValueError: no points at all.
    """
    points = [np.column_stack([np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)])
              for xs, ys in strokes if len(xs)]
    if not points:
        raise ValueError("the drawing has no points")
    every = np.concatenate(points)
    low = every.min(axis=0)
    extent = float((every.max(axis=0) - low).max())
    # Simplified drawings are already scaled to the canvas; only raw ones need shrinking to fit.
    fit = (CANVAS - 1) / extent if extent > CANVAS - 1 else 1.0
    # Centre the drawing's box on the canvas, as Google's bitmap rendering does.
    centre = (every.max(axis=0) - low) * fit / 2
    big = options.size * options.supersample
    scale = big / (CANVAS + 2 * options.padding + options.stroke_width)
    width = options.stroke_width * scale
    shift = CANVAS / 2 - centre
    margin = options.padding + options.stroke_width / 2

    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    radius = width / 2
    for stroke in points:
        xy = ((stroke - low) * fit + shift + margin) * scale
        coords = [tuple(p) for p in xy.tolist()]
        if len(coords) > 1:
            draw.line(coords, fill=255, width=max(1, int(round(width))), joint="curve")
        # Discs at the points give round caps and joins (PIL's line ends are square cuts).
        for x, y in coords:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    small = canvas.resize((options.size, options.size), RESAMPLING[options.resample]) \
        if options.supersample > 1 else canvas
    return _finish(small, options)
