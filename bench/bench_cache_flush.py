"""What flushing bottleneck parts more often costs: `BottleneckCache.compute` with the old part size
(2048 images / 60 s) and the current one (FLUSH_EVERY / FLUSH_SECONDS), alternately, same images and
module. The loss an interruption (kill -9) can cause is one part's worth of work.

    python bench/bench_cache_flush.py [--images 2048] [--rounds 3] [--module mobilenet_v1_100_224]
    python bench/bench_cache_flush.py --quick   # 1024 images, mobilenet_v1_025_224, 2 rounds

Prints images/s for each and the ratio new/old (goal >= 0.98). The small module is the harder case:
its forward pass is cheaper, so the writes weigh more.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cache import SHARED, write_jpgs  # noqa: E402  (same images as bench_cache)

MODULE_ARCHITECTURES = {"mobilenet_v1_100_224": "mobilenet_1.0_224", "mobilenet_v1_025_224": "mobilenet_0.25_224"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--module", choices=sorted(MODULE_ARCHITECTURES), default="mobilenet_v1_100_224")
    parser.add_argument("--quick", action="store_true", help="1024 images, the 0.25 module, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.images, args.module, args.rounds = 1024, "mobilenet_v1_025_224", 2
    module_dir = SHARED / "modules" / args.module
    if not module_dir.is_dir() or not (SHARED / "data" / "quickdraw_bitmaps").is_dir():
        print(f"skipped: {SHARED} (real drawings and modules) is absent")
        return 0
    from retrain.families import architectures
    from retrain.families.hub_head import bottlenecks
    from retrain.data.dataset import scan_image_dir
    from retrain.families.hub_head.hub_modules import resolve_module
    from common.tfcompat import tf

    spec = architectures.get(MODULE_ARCHITECTURES[args.module])
    module = resolve_module(spec, str(module_dir))
    settings = {"old (2048 / 60 s)": (2048, 60.0),
                f"new ({bottlenecks.FLUSH_EVERY} / {bottlenecks.FLUSH_SECONDS:g} s)":
                    (bottlenecks.FLUSH_EVERY, bottlenecks.FLUSH_SECONDS)}
    with tempfile.TemporaryDirectory() as tmp:
        image_dir = Path(tmp) / "images"
        write_jpgs(image_dir, args.images)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            records = list(scan_image_dir(str(image_dir)).records)
        cache = bottlenecks.BottleneckCache(str(Path(tmp) / "bottlenecks"), module, spec)
        cache.feature_function()(tf.zeros([args.batch_size, spec.input_size, spec.input_size, 3]))
        seconds = {name: [] for name in settings}
        for _ in range(args.rounds):  # alternate, so a busy shared machine skews both alike
            for name, (every, period) in settings.items():
                shutil.rmtree(cache.dir, ignore_errors=True)
                start = time.perf_counter()
                report = cache.compute(records, batch_size=args.batch_size, progress=False,
                                       flush_every=every, flush_seconds=period)
                seconds[name].append(time.perf_counter() - start)
                assert report.computed == len(records), report.summary()
        print(f"{len(records)} images, module {args.module}, batch {args.batch_size}, {args.rounds} rounds")
        rates = {}
        for name, values in seconds.items():
            rates[name] = len(records) / float(np.median(values))
            print(f"  {name:22s} {rates[name]:7.1f} images/s  (runs: {', '.join(f'{v:.1f}s' for v in values)})")
        old, new = rates.values()
        print(f"ratio new/old: {new / old:.3f}  (goal >= 0.98)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
