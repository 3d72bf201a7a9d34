"""Writes the drawing contract's golden files (convert/golden/): strokes + contract + the exact PNG.

The Android bundle ships them so an app developer can unit-test the Kotlin port
(DrawingRenderer.kt) against the Python renderer; tests/test_drawing_contract.py checks that the
renderer still reproduces every PNG pixel for pixel. Rerun only on purpose (a renderer change must also
bump convert.drawing.RENDERER_VERSION):

    python -m convert.make_golden
"""

from __future__ import annotations

import dataclasses
import json
import os

from PIL import Image

from convert.drawing import DEFAULT_CONTRACT, DrawingContract, render_strokes

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

# Hand-drawn (not QuickDraw data): a house, a single dot, a zigzag seen on a phone-sized canvas.
CASES = {
    "house": ([[20, 20, 235, 235, 20], [255, 110, 110, 255, 255]],
              [[20, 127, 235], [110, 0, 110]],
              [[100, 100, 150, 150], [255, 180, 180, 255]]),
    "dot": ([[50], [60]],),
    "zigzag_canvas": ([[40, 140, 240, 340, 440], [100, 400, 100, 400, 100]],),
}
CONTRACTS = {
    "house": DEFAULT_CONTRACT,
    "dot": dataclasses.replace(DEFAULT_CONTRACT, size=28),
    "zigzag_canvas": DrawingContract(size=64, fit="canvas", frame=512.0, stroke_width=12.0,
                                     supersample=2, resample="bilinear"),
}


def golden_cases() -> dict:
    """{name: (strokes as lists, contract)}."""
    return {name: ([list(map(list, s)) for s in strokes], CONTRACTS[name]) for name, strokes in CASES.items()}


def write_golden(folder: str = GOLDEN_DIR) -> list[str]:
    """Writes <name>.json ({"strokes", "contract"}) and <name>.png per case; returns the paths."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for name, (strokes, contract) in golden_cases().items():
        with open(os.path.join(folder, f"{name}.json"), "w") as handle:
            json.dump({"strokes": strokes, "contract": contract.to_json()}, handle, indent=1)
        Image.fromarray(render_strokes(strokes, contract)).save(os.path.join(folder, f"{name}.png"))
        written += [os.path.join(folder, f"{name}.json"), os.path.join(folder, f"{name}.png")]
    return written


if __name__ == "__main__":
    print("\n".join(write_golden()))
