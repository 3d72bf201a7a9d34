"""Bottleneck caching throughput, measured side by side in one run on real drawings and real weights.

Compares, on the same images and the same module (../shared/modules/mobilenet_v1_100_224):
  limit      the module's batched forward pass on already-decoded, already-resized tensors in memory
             (no file reading, decoding, hashing or writing: what caching could at best reach);
  cache      `BottleneckCache.compute` from JPG files: hashing, tf.data parallel decode + resize,
             batched forward pass, atomic part files (module already loaded, as in a training run);
  one_by_one retrain.py's way: per image, read, decode + resize, the module on a batch of one, and a
             text file of comma-separated floats;
  rerun      a second `compute` over the same images (everything is reused).

Images: real Quick, Draw! bitmaps (../shared/data/quickdraw_bitmaps) written as JPGs into a temp folder
with `qdretrain convert`'s default rendering (64x64, black on white, quality 90), like a user's folder.

    python bench/bench_cache.py [--images 640] [--batch_size 32] [--rounds 3] [--one_by_one_images 96]

Prints images/s for each and the ratios cache/limit (goal >= 0.9) and cache/one_by_one (goal >= 10).
limit and cache are run alternately, `--rounds` times each, and the ratio is the median over the
back-to-back pairs, so a busy shared machine skews both sides alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"


def write_jpgs(root: Path, count: int) -> None:
    """`count` real drawings, spread over the classes, as <root>/<label>/<label>_<row>.jpg."""
    from convert import sources
    from convert.render import RenderOptions, render_bitmap
    from convert.writer import encode_jpeg
    files = sorted((SHARED / "data" / "quickdraw_bitmaps").glob("*.npy"))
    per_class = -(-count // len(files))
    options = RenderOptions()
    written = 0
    for path in files:
        label = sources.class_name(path)
        bitmaps = sources.open_bitmaps(path)
        (root / label).mkdir(parents=True)
        for row in sources.select_indices(len(bitmaps), per_class, 0, label)[: count - written]:
            data = encode_jpeg(render_bitmap(bitmaps[row], options), quality=90)
            (root / label / f"{label}_{row}.jpg").write_bytes(data)
            written += 1


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=640)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="limit/cache pairs, measured alternately")
    parser.add_argument("--one_by_one_images", type=int, default=96,
                        help="retrain.py's loop is slow; time it on this many images")
    args = parser.parse_args()
    module_dir = SHARED / "modules" / "mobilenet_v1_100_224"
    if not module_dir.is_dir() or not (SHARED / "data" / "quickdraw_bitmaps").is_dir():
        print(f"skipped: {SHARED} (real drawings and modules) is absent")
        return 0

    import warnings

    from retrain.families import architectures
    from retrain.families.hub_head.bottlenecks import BottleneckCache
    from retrain.data.dataset import scan_image_dir
    from retrain.families.hub_head.hub_modules import resolve_module
    from retrain.data.images import decode_and_resize, load_image_file
    from common.tfcompat import tf

    spec = architectures.get("mobilenet_1.0_224")
    module = resolve_module(spec, str(module_dir))
    size = spec.input_size
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU(s), "
          f"GPUs: {len(tf.config.list_physical_devices('GPU'))}; module {module_dir.name}, "
          f"{args.images} images, batch {args.batch_size}")

    with tempfile.TemporaryDirectory() as tmp:
        image_dir = Path(tmp) / "images"
        write_jpgs(image_dir, args.images)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            records = list(scan_image_dir(str(image_dir)).records)
        n = len(records)

        cache = BottleneckCache(str(Path(tmp) / "bottlenecks"), module, spec)
        features_fn = cache.feature_function()  # the exact function the cache runs
        features_fn(tf.zeros([args.batch_size, size, size, 3]))  # load + trace once, outside timing
        features_fn(tf.zeros([1, size, size, 3]))

        # limit: decoded tensors already in memory, batched forward pass only.
        decoded = np.stack([load_image_file(r.source, size) for r in records])
        batches = [tf.constant(decoded[i:i + args.batch_size]) for i in range(0, n, args.batch_size)]
        del decoded

        def run_limit() -> float:
            start = time.perf_counter()
            for batch in batches:
                features_fn(batch).numpy()
            return time.perf_counter() - start

        def run_cache() -> float:
            shutil.rmtree(cache.dir, ignore_errors=True)  # from scratch, same loaded module
            start = time.perf_counter()
            report = cache.compute(records, batch_size=args.batch_size, progress=False)
            seconds = time.perf_counter() - start
            assert report.computed == n and not report.failed, report.summary()
            return seconds

        # The machine may be shared: alternate the two and compare each pair measured back to back.
        pairs = [(run_limit(), run_cache()) for _ in range(args.rounds)]
        batches.clear()  # frees the decoded tensors (a `del` would leave run_limit a dangling name)
        limit_seconds = [p[0] for p in pairs]
        cache_seconds = [p[1] for p in pairs]
        ratios = sorted(limit / cached for limit, cached in pairs)
        for i, (limit, cached) in enumerate(pairs):
            print(f"  round {i + 1}: limit {n / limit:6.1f} images/s, cache {n / cached:6.1f} images/s")

        start = time.perf_counter()
        rerun = BottleneckCache(str(Path(tmp) / "bottlenecks"), module, spec).compute(records, progress=False)
        rerun_seconds = time.perf_counter() - start
        assert rerun.computed == 0

        # retrain.py's loop: per image, read the file, decode + resize (one run), the module on a
        # batch of one (another run), then one text file of comma-separated floats.
        subset = records[: args.one_by_one_images]
        text_dir = Path(tmp) / "text_bottlenecks"
        text_dir.mkdir()
        start = time.perf_counter()
        for i, record in enumerate(subset):
            with open(record.source, "rb") as handle:
                image = decode_and_resize(tf.constant(handle.read()), size)
            values = features_fn(image[None]).numpy()[0]
            (text_dir / f"{i}.txt").write_text(",".join(str(x) for x in values))
        one_seconds = time.perf_counter() - start

        limit_rate = rate(n, float(np.median(limit_seconds)))
        cache_rate = rate(n, float(np.median(cache_seconds)))
        one_rate = rate(len(subset), one_seconds)
        print(f"limit (forward pass on decoded tensors): {limit_rate:8.1f} images/s")
        print(f"cache (BottleneckCache.compute, files):  {cache_rate:8.1f} images/s")
        print(f"one_by_one (retrain.py's loop, {len(subset)} imgs): {one_rate:8.1f} images/s")
        print(f"rerun (all {n} reused):                   {rerun_seconds:8.2f} s")
        print(f"ratio cache/limit:      {float(np.median(ratios)):5.2f}x  "
              f"(median of {len(ratios)} back-to-back pairs: {', '.join(f'{r:.2f}' for r in ratios)}; goal >= 0.9)")
        print(f"ratio cache/one_by_one: {cache_rate / one_rate:5.2f}x  (goal >= 10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
