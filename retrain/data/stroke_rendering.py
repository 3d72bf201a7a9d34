"""Strokes -> the exact pixels the model receives: the ONE adapter to the drawing contract.

Everything in `serve` renders through `render_drawing`, so switching to another renderer (a shared
drawing contract) is a change of this one function. Today it is training's own path for --quickdraw_dir:
the strokes in Quick, Draw!'s simplified form (scaled so the longer side spans 0-255), drawn by
convert.render with convert's default look (retrain.data.quickdraw_source.RENDER_OPTIONS, 64x64 black on
white), then resized bilinearly (TensorFlow's half-pixel-centre resize, which training uses) to the
model's input side.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

SIMPLIFIED_SIDE = 255.0  # Google's simplified drawings: aligned to 0 and scaled to span 0-255


def quickdraw_simplified(strokes: Sequence) -> list:
    """Strokes as Google's simplified data holds them: shifted to 0, longer side scaled to 255, ints.

    A drawing made in a corner of the page thus looks like the training data (which is always
    full-size), and a collected drawing can go straight into the next `--quickdraw_dir` run.

    Args:
      strokes: [[xs], [ys]] per stroke, finite numbers, at least one point.

    Returns:
      [[xs], [ys]] per non-empty stroke, ints in 0..255.
    """
    kept = [(np.asarray(xs, np.float64), np.asarray(ys, np.float64)) for xs, ys in strokes if len(xs)]
    every_x = np.concatenate([xs for xs, _ in kept])
    every_y = np.concatenate([ys for _, ys in kept])
    low_x, low_y = every_x.min(), every_y.min()
    extent = max(every_x.max() - low_x, every_y.max() - low_y)
    scale = SIMPLIFIED_SIDE / extent if extent > 0 else 1.0
    return [[np.round((xs - low_x) * scale).astype(int).tolist(), np.round((ys - low_y) * scale).astype(int).tolist()]
            for xs, ys in kept]


def bilinear_taps(size_in: int, size_out: int):
    """(low index, high index, weight of high) per output position of tf.image.resize's "bilinear"
    (half-pixel centres, no antialiasing): output i = in[low] * (1 - w) + in[high] * w."""
    position = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, position - low


def resize_bilinear(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """tf.image.resize(..., "bilinear") on a 2-D float array (half-pixel centres, no antialiasing)."""
    y0, y1, fy = bilinear_taps(pixels.shape[0], height)
    x0, x1, fx = bilinear_taps(pixels.shape[1], width)
    top = pixels[y0][:, x0] * (1 - fx) + pixels[y0][:, x1] * fx
    bottom = pixels[y1][:, x0] * (1 - fx) + pixels[y1][:, x1] * fx
    return top * (1 - fy[:, None]) + bottom * fy[:, None]


def render_drawing(strokes: Sequence, height: int, width: int, contract: Optional[dict] = None) -> np.ndarray:
    """The adapter: strokes -> uint8 grayscale [height, width], black ink on white, as the model gets it.

    Args:
      strokes: [[xs], [ys]] per stroke (any scale; see `quickdraw_simplified`), at least one point.
      height, width: the model's input size.
      contract: the model's drawing contract as model_info.json states it (None: the default look).

    Returns:
      uint8 [height, width].
    """
    if isinstance(contract, dict):
        # The contract the model folder states (model_info.json "drawing_contract"): the one renderer.
        from convert.drawing import DrawingContract
        from convert.drawing import render_strokes as render_by_contract
        pixels = np.asarray(render_by_contract(quickdraw_simplified(strokes), DrawingContract.from_json(contract)),
                            np.float64)
    else:  # a model folder from before the contract was recorded: training's --quickdraw_dir look
        from convert.render import render_strokes
        from retrain.data.quickdraw_source import RENDER_OPTIONS
        pixels = np.asarray(render_strokes(quickdraw_simplified(strokes), RENDER_OPTIONS), np.float64)
    if pixels.shape != (height, width):
        pixels = resize_bilinear(pixels, height, width)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
