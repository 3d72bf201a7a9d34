"""Drawings -> PIL images: 28x28 bitmaps resized, strokes rendered with anti-aliasing.

Both give a grayscale ("L") image of the requested size in the requested polarity. Internally ink is
255 on 0 (QuickDraw's own convention) and inverted at the end for paper-like black on white.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from PIL import Image

# One table of filters and polarities for bitmaps and strokes alike (the drawing contract's).
from convert.drawing import POLARITIES, RESAMPLING
from convert.sources import BITMAP_SIDE

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


def contract_for(options: RenderOptions):
    """The drawing contract (convert/drawing.py) these options stand for."""
    from convert.drawing import DrawingContract
    return DrawingContract(size=options.size, fit="bbox", frame=CANVAS, stroke_width=options.stroke_width,
                           margin=options.padding, supersample=options.supersample,
                           resample=options.resample, polarity=options.polarity)


def render_strokes(strokes: Sequence[tuple[Sequence[float], Sequence[float]]],
                   options: RenderOptions) -> Image.Image:
    """Renders simplified strokes by the drawing contract (convert.drawing.render_strokes), as an image.

    Args:
        strokes: `(xs, ys)` per stroke.
        options: size, resampling, polarity, stroke width, padding, supersampling.

    Returns:
        A grayscale image `options.size` square.

    Raises:
        ValueError: no points at all.
    """
    from convert.drawing import render_strokes as render_by_contract
    return Image.fromarray(render_by_contract(strokes, contract_for(options)))
