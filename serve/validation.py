"""Checking what clients send, before anything is rendered or run: every problem is a one-line reason.

Limits keep one request from taking the server down: the body size is capped while it is read, the
point and stroke counts are capped, coordinates must be finite and of sane size, a PNG's pixel count is
read from its header before it is decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import json

import numpy as np

from convert.sources import MAX_COORDINATE, coordinate_ok  # one coordinate rule for files and requests

MAX_BODY_BYTES = 2 * 1024 * 1024  # a 20,000-point drawing is ~0.3 MB of JSON; a canvas PNG well under 1 MB
MAX_POINTS = 20_000  # a long Quick, Draw! drawing has a few hundred points after simplification
MAX_STROKES = 1_000
# A drawing canvas needs ~1000x1000 (the page's is 512x512 and sends strokes); a decoded pixel costs 4
# bytes, so the largest allowed PNG holds ~4 MB however small its file is (a blank 4096x4096 PNG is 30 KB).
MAX_PNG_SIDE = 1024
MAX_PNG_PIXELS = MAX_PNG_SIDE * MAX_PNG_SIDE


class RequestError(ValueError):
    """A bad request; `status` is the HTTP status, the message the one-line reason."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.status = status


def _reject_constant(name):
    raise RequestError(f"{name} is not a number JSON allows")


def parse_json(body: bytes) -> dict:
    """A JSON object from a request body (NaN and Infinity refused)."""
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except RequestError:
        raise
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(f"the body is not JSON ({str(error).splitlines()[0]})") from None
    except RecursionError:
        raise RequestError("the body is nested too deeply") from None
    if not isinstance(value, dict):
        raise RequestError("the body must be a JSON object")
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_strokes(value) -> list:
    """Quick, Draw!'s [[xs], [ys]] per stroke, checked: equal lengths, finite numbers, within the limits.

    Returns:
      [[xs], [ys]] lists of floats; strokes without points dropped; at least one point.
    """
    if not isinstance(value, list):
        raise RequestError("'strokes' must be a list of [[xs], [ys]] strokes")
    if len(value) > MAX_STROKES:
        raise RequestError(f"{len(value)} strokes; at most {MAX_STROKES}", 413)
    strokes, points = [], 0
    for number, stroke in enumerate(value):
        if not isinstance(stroke, list) or len(stroke) < 2 or not isinstance(stroke[0], list) \
                or not isinstance(stroke[1], list):
            raise RequestError(f"stroke {number} is not [[xs], [ys]]")
        xs, ys = stroke[0], stroke[1]
        if len(xs) != len(ys):
            raise RequestError(f"stroke {number} has {len(xs)} xs but {len(ys)} ys")
        points += len(xs)
        if points > MAX_POINTS:
            raise RequestError(f"more than {MAX_POINTS} points", 413)
        for v in xs + ys:
            # convert.sources' coordinate rule (math.isfinite would raise OverflowError on a 400-digit
            # int and answer 500).
            if not coordinate_ok(v):
                raise RequestError(f"stroke {number} has a coordinate that is not a finite number "
                                   f"within +-{MAX_COORDINATE:g}: {str(v)[:20]}")
        if xs:
            strokes.append([[float(v) for v in xs], [float(v) for v in ys]])
    if not strokes:
        raise RequestError("the drawing has no points")
    return strokes


def parse_png(value, height: int, width: int) -> np.ndarray:
    """A base64 PNG (or a data: URL) -> uint8 RGB [height, width, 3], transparency composited on white.

    The size is read from the header and checked before anything is decoded; the decoded image stays
    uint8, and only the rows and columns the (TensorFlow-bilinear) resize reads are turned into floats,
    at the model's size. So a request costs at most ~4 bytes per allowed pixel, whatever it claims.
    """
    from PIL import Image
    if not isinstance(value, str):
        raise RequestError("'png' must be a base64 string")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    if len(value) > MAX_BODY_BYTES * 2:  # never reached through the app (its body limit is lower)
        raise RequestError("'png' is too large", 413)
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("'png' is not valid base64") from None
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            if image.format != "PNG":
                raise RequestError(f"'png' holds a {image.format} image, not a PNG")
            if image.width * image.height > MAX_PNG_PIXELS:
                raise RequestError(f"the PNG is {image.width}x{image.height}; at most {MAX_PNG_PIXELS} pixels "
                                   f"(a drawing canvas of {MAX_PNG_SIDE}x{MAX_PNG_SIDE}): scale it down first", 413)
            rgba = np.asarray(image.convert("RGBA"))
    except RequestError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise RequestError(f"'png' is not a readable PNG ({str(error)[:80]})") from None
    return to_model_size(rgba, height, width)


def to_model_size(rgba: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 RGBA [H, W, 4] -> uint8 RGB [height, width, 3]: on white, resized as tf.image.resize bilinear.

    Compositing is per pixel and the resize is linear, so compositing the gathered taps equals
    compositing the whole image first; only [height, width]-sized float32 arrays are made.
    """
    from retrain.data.stroke_rendering import bilinear_taps
    y0, y1, fy = bilinear_taps(rgba.shape[0], height)
    x0, x1, fx = bilinear_taps(rgba.shape[1], width)
    fy = fy.astype(np.float32)[:, None, None]
    fx = fx.astype(np.float32)[None, :, None]

    def on_white(rows, cols):
        taps = rgba[rows][:, cols].astype(np.float32)  # rows first: [height, W, 4] uint8, then [height, width]
        alpha = taps[..., 3:] / 255.0
        return taps[..., :3] * alpha + 255.0 * (1.0 - alpha)

    top = on_white(y0, x0) * (1 - fx) + on_white(y0, x1) * fx
    bottom = on_white(y1, x0) * (1 - fx) + on_white(y1, x1) * fx
    return np.clip(np.round(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)
