"""The drawing contract: the one definition of how strokes become a model's input image.

Every consumer draws strokes through `render_strokes(strokes, contract)`: `qdretrain convert`,
`--quickdraw_dir` training, evaluation's panel, `label_image` on stroke files, the web page, and (ported
line by line to Kotlin, `android_export/DrawingRenderer.kt`) the Android app. A model's
`model_info.json` states the contract it was trained with (`DrawingContract.to_json()`), so an app can
draw exactly what the model learned from.

The math, in "bbox" mode (the default, what training uses):
  1. the ink's bounding box is scaled so its longer side is `frame - 1` units (QuickDraw's simplified
     drawings already are: their box spans 0..255), keeping the aspect ratio;
  2. the box is centred in a square of `frame + 2 * margin + stroke_width` units;
  3. that square is drawn at `size * supersample` pixels, ink `stroke_width` units wide with round caps
     and joins (a disc at every point), then downsampled to `size` with `resample`: the anti-aliasing;
  4. ink is 0 on paper 255 ("black_on_white") or the reverse.
In "canvas" mode the coordinates are pixels of a capturing canvas `frame` wide (a phone's view): no fit,
no centring, `stroke_width` is in canvas pixels — used to mimic how an app sees a drawing.

Deterministic: the same strokes and contract give the same bytes (PIL's rasteriser, no randomness).
No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
POLARITIES = ("white_on_black", "black_on_white")
FITS = ("bbox", "canvas")
# Bump when the math below changes in a way the contract's fields do not show (cache keys include it).
RENDERER_VERSION = 2  # 2: the ink's box is fitted to the frame (scaled up too), not only shrunk


@dataclasses.dataclass(frozen=True)
class DrawingContract:
    """How strokes become pixels.

    Attributes:
        size: output side in pixels (square).
        fit: "bbox" (the ink's bounding box fills the frame; stroke width relative to the drawing) or
            "canvas" (coordinates are canvas pixels; stroke width relative to the canvas).
        frame: the coordinate frame's side: 256 units for "bbox" (QuickDraw's simplified canvas), the
            capturing canvas' width in pixels for "canvas".
        stroke_width: ink width in frame units; 16 with margin 16 matches Google's 28x28 bitmaps.
        margin: blank border around the box in frame units ("bbox" only).
        supersample: strokes are drawn this many times larger, then downsampled (1: no anti-aliasing).
        resample: a key of RESAMPLING, the downsampling filter.
        polarity: "black_on_white" (paper-like ink 0 on 255) or "white_on_black" (QuickDraw's bitmaps).
    """

    size: int = 64
    fit: str = "bbox"
    frame: float = 256.0
    stroke_width: float = 16.0
    margin: float = 16.0
    supersample: int = 4
    resample: str = "lanczos"
    polarity: str = "black_on_white"

    def __post_init__(self):
        if self.size < 8:
            raise ValueError(f"size must be at least 8 pixels, not {self.size}")
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {', '.join(FITS)}, not {self.fit!r}")
        if self.resample not in RESAMPLING:
            raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, not {self.resample!r}")
        if self.polarity not in POLARITIES:
            raise ValueError(f"polarity must be one of {', '.join(POLARITIES)}, not {self.polarity!r}")
        if self.stroke_width <= 0 or self.supersample < 1 or self.margin < 0 or self.frame <= 1:
            raise ValueError("stroke_width must be > 0, supersample >= 1, margin >= 0, frame > 1")

    def to_json(self) -> dict:
        """The contract as model_info.json states it."""
        return {**dataclasses.asdict(self), "renderer_version": RENDERER_VERSION,
                "ink": 0 if self.polarity == "black_on_white" else 255,
                "paper": 255 if self.polarity == "black_on_white" else 0}

    @classmethod
    def from_json(cls, data: dict) -> "DrawingContract":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


# What training, convert and the app use unless told otherwise.
DEFAULT_CONTRACT = DrawingContract()


def _points(strokes) -> list[np.ndarray]:
    return [np.column_stack([np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)])
            for xs, ys in strokes if len(xs)]


def render_strokes(strokes: Sequence[Sequence[Sequence[float]]], contract: DrawingContract) -> np.ndarray:
    """Draws strokes by the contract.

    Args:
        strokes: `[xs, ys]` per stroke (any coordinates in "bbox" mode; canvas pixels in "canvas" mode).
        contract: the drawing contract.

    Returns:
        uint8 array (size, size): ink and paper as the contract's polarity says.

    Raises:
        ValueError: no points at all.
    """
    points = _points(strokes)
    if not points:
        raise ValueError("the drawing has no points")
    big = contract.size * contract.supersample
    if contract.fit == "bbox":
        every = np.concatenate(points)
        low = every.min(axis=0)
        extent = float((every.max(axis=0) - low).max())
        fit = (contract.frame - 1) / extent if extent > 0 else 1.0
        centre = (every.max(axis=0) - low) * fit / 2
        scale = big / (contract.frame + 2 * contract.margin + contract.stroke_width)
        offset = contract.frame / 2 - centre + contract.margin + contract.stroke_width / 2
        transform = [((p - low) * fit + offset) * scale for p in points]
    else:
        scale = big / contract.frame
        transform = [p * scale for p in points]
    width = contract.stroke_width * scale
    radius = width / 2
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    for xy in transform:
        coords = [tuple(p) for p in xy.tolist()]
        if len(coords) > 1:
            draw.line(coords, fill=255, width=max(1, int(round(width))), joint="curve")
        # Discs at the points give round caps and joins (PIL's line ends are square cuts).
        for x, y in coords:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    if contract.supersample > 1:
        canvas = canvas.resize((contract.size, contract.size), RESAMPLING[contract.resample])
    ink = np.asarray(canvas, dtype=np.uint8)
    return 255 - ink if contract.polarity == "black_on_white" else ink.copy()
