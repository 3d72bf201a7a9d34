"""The native nets' pixels: strokes drawn with the look of Google's 28x28 bitmaps, and that ink turned into
the model input. Training, the final evaluation, the panel and export all use these two functions.

Today it calls convert/render.py with the look of Google's 28x28 bitmaps (stroke width 16 and padding
16 on the 256 canvas, ink 255 on 0). When convert/drawing.py's `render_strokes(strokes, contract)`
lands, only this function changes.
"""

from __future__ import annotations

import numpy as np

from convert.render import RenderOptions, render_strokes

_BITMAP_LOOK = RenderOptions(size=28, polarity="white_on_black", stroke_width=16.0, padding=16.0)


def strokes_to_ink(strokes) -> np.ndarray:
    """Strokes ((xs, ys), ...) on the 256 canvas -> uint8 [28, 28] ink (255 = ink, 0 = paper).

    Raises:
      ValueError: no points.
    """
    return np.asarray(render_strokes(strokes, _BITMAP_LOOK), dtype=np.uint8)


def drawing_contract_json() -> dict:
    """The drawing contract the native nets learned from, as model_info.json states it: strokes drawn
    at 28 px with the bitmaps' look, shown to the model as black ink on white (the input contract)."""
    import dataclasses

    from convert.render import contract_for
    return contract_for(dataclasses.replace(_BITMAP_LOOK, polarity="black_on_white")).to_json()


def ink_to_contract(ink, size: int):
    """uint8/float ink [b, 28, 28, 1] (or float in [0, 1]) -> the model's input: RGB [b, size, size, 3]
    in [-1, 1], black ink on white (what an app feeds the exported model)."""
    from common.tfcompat import tf
    x = tf.cast(ink, tf.float32)
    if ink.dtype == tf.uint8:
        x = x / 255.0
    if size != 28:
        x = tf.image.resize(x, (size, size), method="bilinear")
    x = 1.0 - 2.0 * x
    return tf.repeat(x, 3, axis=-1)


def decode_ink(image_bytes, size: int):
    """Encoded image bytes -> uint8 [size, size, 1] ink (255 ink, 0 paper), as `.npy` rows are.

    Usable inside tf.data. Bilinear with antialiasing: downscaling 64 -> 28 averages every source pixel
    (plain bilinear would skip some and break thin strokes); upscaling is the bilinear resize
    augment.ink_to_contract gives `.npy` rows for the 64/96 px nets.
    """
    from retrain.data.images import decode_rgb_on_white
    from common.tfcompat import tf
    gray = tf.reduce_mean(decode_rgb_on_white(image_bytes), axis=-1, keepdims=True)
    gray = tf.image.resize(gray, (size, size), method="bilinear", antialias=True)
    ink = tf.clip_by_value(255.0 - gray, 0.0, 255.0)
    return tf.cast(tf.round(ink), tf.uint8)


def read_inks(path: str, rows) -> dict:
    """uint8 [28, 28] ink of some drawings of one class file, as the native training stream reads them.

    Args:
      path: a .npy, .ndjson or Kaggle .csv file.
      rows: drawing numbers (.npy rows; .ndjson non-blank lines; .csv data rows), each from 0.

    Returns:
      {row: ink}; rows that are missing or malformed are left out (the caller counts them).
    """
    from convert import sources
    wanted = set(int(r) for r in rows)
    found: dict[int, np.ndarray] = {}
    if path.lower().endswith(sources.NPY_SUFFIX):
        bitmaps = sources.open_bitmaps(path)
        for row in sorted(r for r in wanted if 0 <= r < bitmaps.shape[0]):
            found[row] = np.asarray(bitmaps[row], np.uint8).reshape(28, 28)
        return found
    if path.lower().endswith(".csv"):
        from retrain.data.kaggle_csv import BadRows, iter_csv
        for row, _, _, strokes in iter_csv(path, BadRows()):
            if row in wanted:
                found[row] = _ink_or_none(strokes)
        return {r: ink for r, ink in found.items() if ink is not None}
    row = -1
    with sources.open_drawing_file(path) as stream:
        for _, line in sources.iter_lines(stream):
            if not line.strip():
                continue
            row += 1
            if row in wanted:
                try:
                    drawing, _ = sources.parse_drawing(line, row + 1)
                except (ValueError, TypeError):
                    continue
                ink = _ink_or_none(drawing.strokes)
                if ink is not None:
                    found[row] = ink
    return found


def _ink_or_none(strokes):
    try:
        return strokes_to_ink(strokes)
    except ValueError:  # a drawing with no points
        return None
