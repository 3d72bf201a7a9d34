"""Streaming at scale: peak memory and throughput as the data grows, for both training paths.

Native nets (`--native`): a SYNTHETIC 345-class set generated here from the 13 real classes in
../shared (class c uses real class c % 13, shifted by a per-class offset and mirrored for every other
block of 13 classes), saved as 345 `.npy` files written in chunks through np.lib.format.open_memmap,
so generating 3.45M drawings (2.7 GB) holds one chunk in memory. The native input pipeline
(retrain/families/native/stream.py: memory-mapped reads, per-drawing hash split, interleave over classes,
bounded shuffle buffer) streams the training split for a fixed number of batches at each size, in a
fresh process each time.

The head on cached bottlenecks (`--head`): a SYNTHETIC bottleneck cache (float32 x 1024, class centre
+ noise; retrain/families/hub_head/feature_memprobe.py) written in the cache's own part-file format, then a head trained
for a fixed number of steps in a fresh process, streamed from the part files
(retrain/families/hub_head/feature_stream.py) and, at the sizes that fit, from one in-memory array for comparison.

    .venv/bin/python bench/bench_scale.py            # both: native 10k..3.45M, head 100k and 1M
    .venv/bin/python bench/bench_scale.py --quick    # native 10k and 100k, head 100k only
    .venv/bin/python bench/bench_scale.py --head --head_sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BITMAPS = os.path.join(os.path.dirname(REPO), "shared", "data", "quickdraw_bitmaps")
CLASSES = 345
CHUNK = 20_000  # drawings generated at a time per class file (15 MB)
# Above this the head's array path needs more RAM than these machines have to spare (4 GB at 1M).
ARRAY_UP_TO = 100_000


def generate(folder: str, total: int, seed: int = 0) -> None:
    """`total` synthetic drawings over CLASSES .npy files (per-class shifts/flips of real bitmaps)."""
    rng = np.random.default_rng(seed)
    real = [np.load(os.path.join(BITMAPS, f), mmap_mode="r") for f in sorted(os.listdir(BITMAPS))
            if f.endswith(".npy")]
    per_class = max(1, total // CLASSES)
    os.makedirs(folder, exist_ok=True)
    for c in range(CLASSES):
        source = real[c % len(real)]
        shift = tuple(rng.integers(-3, 4, size=2))
        flip = bool(c // len(real) % 2)
        out = np.lib.format.open_memmap(os.path.join(folder, f"synthetic_{c:03d}.npy"), mode="w+",
                                        dtype=source.dtype, shape=(per_class, 784))
        for start in range(0, per_class, CHUNK):
            count = min(CHUNK, per_class - start)
            picked = np.sort(rng.integers(0, source.shape[0], count))  # sorted: sequential reads
            rows = np.roll(np.asarray(source[picked]).reshape(-1, 28, 28), shift, axis=(1, 2))
            out[start:start + count] = (rows[:, :, ::-1] if flip else rows).reshape(count, 784)
        out.flush()
        del out


def _probe(args: list) -> dict:
    out = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_native(workdir: str, sizes: list, batches: int) -> None:
    print("Native input pipeline. SYNTHETIC data: variants of the 13 real classes spread over 345 classes.")
    # The generator's own peak (ru_maxrss of this process so far) shows that generating does not grow.
    print(f"{'drawings':>10s} {'generate s':>11s} {'generator maxrss MB':>20s} {'peak RssAnon MB':>16s} "
          f"{'drawings/s':>11s}", flush=True)
    for total in sizes:
        folder = os.path.join(workdir, f"native-{total}")
        started = time.time()
        generate(folder, total)
        seconds, maxrss = time.time() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = _probe(["-m", "retrain.families.native.memprobe", folder, str(batches)])
        print(f"{total:10d} {seconds:11.0f} {maxrss:20.0f} {result['peak_rss_anon_mb']:16.0f} "
              f"{result['drawings_per_s']:11.0f}", flush=True)
        shutil.rmtree(folder)


def bench_head(workdir: str, sizes: list, steps: int) -> None:
    print("Head on cached bottlenecks. SYNTHETIC cache: 1024 float32 per feature, 345 classes, parts of 256.")
    # Index: records + cache scan (per record, either path). Training: what the feature path adds on top.
    print(f"{'features':>10s} {'path':>6s} {'write s':>8s} {'index peak MB':>14s} {'after index MB':>15s} "
          f"{'training peak MB':>17s} {'ru_maxrss MB':>13s} {'features/s':>11s} {'train acc':>9s}  (RssAnon)",
          flush=True)
    for total in sizes:
        root = os.path.join(workdir, f"head-{total}")
        written = _probe(["-m", "retrain.families.hub_head.feature_memprobe", "write", root, str(total)])
        for mode in ("stream", "array") if total <= ARRAY_UP_TO else ("stream",):
            r = _probe(["-m", "retrain.families.hub_head.feature_memprobe", "train", root, str(total), str(steps), mode])
            print(f"{total:10d} {mode:>6s} {written['seconds']:8.0f} {r['peak_rss_anon_index_mb']:14.0f} "
                  f"{r['rss_anon_after_index_mb']:15.0f} {r['peak_rss_anon_training_mb']:17.0f} "
                  f"{r['ru_maxrss_mb']:13.0f} {r['features_per_s']:11.0f} {r['train_accuracy']:9.3f}", flush=True)
        shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="native 10k and 100k, head 100k only")
    parser.add_argument("--native", action="store_true", help="only the native input pipeline")
    parser.add_argument("--head", action="store_true", help="only the head on cached bottlenecks")
    parser.add_argument("--native_sizes", type=int, nargs="+", default=None)
    parser.add_argument("--head_sizes", type=int, nargs="+", default=None)
    parser.add_argument("--batches", type=int, default=200, help="native: batches of 256 streamed per size")
    parser.add_argument("--head_steps", type=int, default=2000, help="head: training steps of 100 per size")
    parser.add_argument("--workdir", default=None, help="where the synthetic data goes (default: a temp dir)")
    args = parser.parse_args()
    both = not (args.native or args.head)
    native_sizes = args.native_sizes or ([10_000, 100_000] if args.quick else
                                         [10_000, 100_000, 1_000_000, 3_450_000])
    head_sizes = args.head_sizes or ([100_000] if args.quick else [100_000, 1_000_000])
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        if both or args.native:
            bench_native(workdir, native_sizes, args.batches)
        if both or args.head:
            bench_head(workdir, head_sizes, args.head_steps)


if __name__ == "__main__":
    main()
