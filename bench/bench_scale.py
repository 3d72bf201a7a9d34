"""Streaming at scale: peak anonymous RSS and drawings/s as a synthetic 345-class set grows.

The set is SYNTHETIC, generated here from the 13 real classes in ../shared (random affine transforms
of their bitmaps, a different shift/rotation/zoom per drawing; class c uses real class c % 13), saved
as 345 `.npy` files. The native input pipeline (retrain/native/stream.py: memory-mapped reads,
per-drawing hash split, interleave over classes, bounded shuffle buffer) streams the training split
for a fixed number of batches at each size, in a fresh process each time.

    .venv/bin/python bench/bench_scale.py            # 10k, 100k, 1M, 3.45M drawings
    .venv/bin/python bench/bench_scale.py --quick    # 10k and 100k only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BITMAPS = os.path.join(os.path.dirname(REPO), "shared", "data", "quickdraw_bitmaps")
CLASSES = 345


def generate(folder: str, total: int, seed: int = 0) -> None:
    """`total` synthetic drawings over CLASSES .npy files (random shifts/flips of real bitmaps)."""
    rng = np.random.default_rng(seed)
    real = [np.load(os.path.join(BITMAPS, f), mmap_mode="r") for f in sorted(os.listdir(BITMAPS))
            if f.endswith(".npy")]
    per_class = max(1, total // CLASSES)
    os.makedirs(folder, exist_ok=True)
    for c in range(CLASSES):
        source = real[c % len(real)]
        rows = np.asarray(source[rng.integers(0, source.shape[0], per_class)]).reshape(-1, 28, 28)
        shift = rng.integers(-3, 4, size=2)
        rows = np.roll(rows, tuple(shift), axis=(1, 2))
        if c // len(real) % 2:
            rows = rows[:, :, ::-1]
        np.save(os.path.join(folder, f"synthetic_{c:03d}.npy"), rows.reshape(per_class, 784))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k and 100k drawings only")
    parser.add_argument("--batches", type=int, default=200, help="batches of 256 streamed per size")
    args = parser.parse_args()
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000, 3_450_000)
    print("SYNTHETIC data: affine variants of the 13 real classes spread over 345 classes.")
    print(f"{'drawings':>10s} {'peak RssAnon MB':>16s} {'drawings/s':>11s}")
    with tempfile.TemporaryDirectory() as workdir:
        for total in sizes:
            folder = os.path.join(workdir, str(total))
            generate(folder, total)
            out = subprocess.run([sys.executable, "-m", "retrain.native.memprobe", folder, str(args.batches)],
                                 cwd=REPO, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{total:10d} {result['peak_rss_anon_mb']:16.0f} {result['drawings_per_s']:11.0f}")


if __name__ == "__main__":
    main()
