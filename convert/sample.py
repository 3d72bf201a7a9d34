"""The small real sample of Quick, Draw! drawings that ships inside qdretrain (offline demo data).

`convert/sample_data/<class>.npy`: 300 drawings per class of 13 classes, uint8 (300, 784) numpy_bitmap
layout, from Google's Quick, Draw! dataset (CC BY 4.0; see sample_data/ATTRIBUTION.md).
`build_sample` is how the files were made, kept so they can be made again the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convert import sources

SAMPLE_PER_CLASS = 300
# The seed the shipped sample was drawn with (numpy default_rng).
SAMPLE_SEED = 20240601


def sample_dir() -> Path:
    """The folder of the embedded sample `.npy` files (one per class, real names with spaces)."""
    return Path(__file__).resolve().parent / "sample_data"


def build_sample(source_dir: Path, target_dir: Path, per_class: int = SAMPLE_PER_CLASS,
                 seed: int = SAMPLE_SEED) -> list[Path]:
    """Writes `per_class` rows of every `<class>.npy` in `source_dir` to `target_dir/<class>.npy`.

    Rows are chosen with `sources.select_indices` (seeded, in file order) from the memory-mapped file
    and saved as plain uint8 `(per_class, 784)` arrays (no pickle).

    Args:
        source_dir: folder of numpy_bitmap files.
        target_dir: where the sample goes.
        per_class: rows per class.
        seed: the selection seed.

    Returns:
        The files written, sorted.

    Raises:
        SourceError: a source file is unusable or has fewer than `per_class` rows.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(source_dir).glob("*.npy")):
        label = sources.class_name(path)
        bitmaps = sources.open_bitmaps(path)
        if len(bitmaps) < per_class:
            raise sources.SourceError(f"{path} has {len(bitmaps)} drawings, fewer than {per_class}.")
        rows = sources.select_indices(len(bitmaps), per_class, seed, label)
        out = target_dir / f"{label}.npy"
        np.save(out, np.ascontiguousarray(bitmaps[rows], dtype=np.uint8), allow_pickle=False)
        written.append(out)
    return written


if __name__ == "__main__":  # python -m convert.sample SOURCE_DIR: rebuild the shipped sample
    import sys
    for file in build_sample(Path(sys.argv[1]), sample_dir()):
        print(file)
