"""Tiny synthetic QuickDraw inputs for the convert/preview tests, written into tmp_path.

Helpers only (no tests here); named test_* to sit with the convert tests it serves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def bitmap_rows(count: int) -> np.ndarray:
    """`(count, 784)` uint8 drawings; row i is a 7x7 ink block in cell (i % 4, i // 4 % 4) of a 4x4 grid,
    so an output image can be traced back to its row."""
    rows = np.zeros((count, 28, 28), dtype=np.uint8)
    for i in range(count):
        x, y = (i % 4) * 7, (i // 4 % 4) * 7
        rows[i, y:y + 7, x:x + 7] = 255
    return rows.reshape(count, 784)


def block_of(index: int) -> tuple[slice, slice]:
    """Where row `index`'s ink block is in its 28x28 drawing: (row slice, column slice)."""
    x, y = (index % 4) * 7, (index // 4 % 4) * 7
    return slice(y, y + 7), slice(x, x + 7)


def write_npy(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array, allow_pickle=False)
    return path


def drawing_line(key_id, strokes, recognized=True, word="cat") -> str:
    record = {"word": word, "countrycode": "US", "timestamp": "2017-01-01 00:00:00.0 UTC",
              "recognized": recognized, "key_id": str(key_id), "drawing": strokes}
    return json.dumps(record)


def square_strokes(offset: int = 0) -> list:
    """A closed square plus a diagonal, on the 256 canvas."""
    a, b = 20 + offset, 200 + offset
    return [[[a, b, b, a, a], [a, a, b, b, a]], [[a, b], [a, b]]]


def write_ndjson(path: Path, count: int, extra_lines: tuple[str, ...] = (), unrecognized: int = 0) -> Path:
    """`count` good drawings (key_ids 1000+i), the last `unrecognized` of them marked unrecognised,
    then `extra_lines` verbatim."""
    lines = [drawing_line(1000 + i, square_strokes(i % 30), recognized=i < count - unrecognized)
             for i in range(count)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path
