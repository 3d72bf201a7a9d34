"""The one place the native trainer turns strokes into pixels, so the renderer can be switched here.

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

