"""Benchmark: one worker vs two local workers (`qdretrain launch --num_workers 2`), side by side.

On real Quick, Draw! drawings (../shared/data/quickdraw_bitmaps) with the real MobileNet v1 1.0 module
(../shared/modules/mobilenet_v1_100_224), each run from a cold bottleneck cache, it reports:
  * time to a trained head (the whole `qdretrain` run: start-up, caching, training, outputs),
  * the bottleneck-cache phase: images/s with the cache split over 2 workers vs 1,
  * the head-training phase time and the test accuracy of each.

Both runs use the same per-replica batch, so the two-worker run takes the same number of steps on twice
the global batch (learning rate scaled linearly); that is what `qdretrain launch` does for a user.

The workers run inside a private network namespace where that is permitted (TensorFlow's servers
listen on all interfaces); elsewhere pass --no_isolation to run them on the host's loopback anyway.

    .venv/bin/python bench/bench_distributed.py [--per_class 100] [--classes 4] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MODULE = SHARED / "modules" / "mobilenet_v1_100_224"
BITMAPS = SHARED / "data" / "quickdraw_bitmaps"
sys.path.insert(0, str(REPO))


def _parse(log: str) -> dict:
    """Phase numbers from the pipeline's log lines (every worker's, for a launch)."""
    computed = [(int(n), float(s)) for n, s in re.findall(r"Bottlenecks: .*? (\d+) computed in ([\d.]+)\s*s", log)]
    trained = [float(s) for s in re.findall(r"Trained the head in ([\d.]+) s", log)]
    accuracy = re.findall(r"Final test accuracy = ([\d.]+)%", log)
    return {
        "cached_images": sum(n for n, _ in computed),
        # Workers cache their shards at the same time: the phase lasts as long as the slowest.
        "cache_s": max((s for _, s in computed), default=float("nan")),
        "train_s": max(trained, default=float("nan")),
        "accuracy": float(accuracy[0]) if accuracy else float("nan"),
    }


def _run(command: list[str], env: dict, timeout: float) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"run failed ({result.returncode}): {' '.join(command[:6])} ...\n"
                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=4, help="Quick, Draw! classes used")
    parser.add_argument("--per_class", type=int, default=100, help="drawings per class")
    parser.add_argument("--steps", type=int, default=200, help="training steps")
    parser.add_argument("--batch", type=int, default=50, help="per-replica training batch")
    parser.add_argument("--no_isolation", action="store_true",
                        help="run the workers on the host's loopback where no private network namespace "
                             "can be made (their servers then listen on all interfaces while they run)")
    args = parser.parse_args()
    if not MODULE.exists() or not BITMAPS.exists():
        sys.exit(f"skipped: {MODULE} or {BITMAPS} is absent (real data lives in ../shared beside the repo)")

    from tests import netns
    reason = netns.unavailable_reason()
    if reason and not args.no_isolation:
        sys.exit(f"cannot isolate the workers ({reason}); rerun with --no_isolation to run them anyway")
    wrap = (lambda argv: argv) if reason else netns.wrap

    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        tmp = Path(tmp)
        data = tmp / "quickdraw"
        data.mkdir()
        for source in sorted(BITMAPS.glob("*.npy"))[:args.classes]:
            (data / source.name).symlink_to(source)
        env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        env["TMPDIR"] = str(tmp)

        def train_args(name: str) -> list[str]:
            return ["--quickdraw_dir", str(data), "--quickdraw_per_class", str(args.per_class),
                    "--architecture", "mobilenet_1.0_224", "--tfhub_module", str(MODULE),
                    "--bottleneck_dir", str(tmp / f"cache-{name}"), "--output_dir", str(tmp / f"out-{name}"),
                    "--how_many_training_steps", str(args.steps), "--train_batch_size", str(args.batch),
                    "--eval_step_interval", "50", "--seed", "0"]

        images = args.classes * args.per_class
        print(f"{images} drawings ({args.classes} classes x {args.per_class}), MobileNet v1 1.0 224, "
              f"{args.steps} steps of {args.batch} per replica, {os.cpu_count()} CPU cores, "
              f"{'private network namespace' if not reason else 'host loopback'}", flush=True)
        one_s, one_log = _run([sys.executable, "-m", "retrain", *train_args("one")], env, timeout=240)
        two_s, two_log = _run(wrap([sys.executable, "-m", "retrain", "launch", "--num_workers", "2",
                                    "--timeout", "240", "--", *train_args("two")]), env, timeout=300)

    one, two = _parse(one_log), _parse(two_log)
    for name, stats in (("1 worker", one), ("2 workers", two)):
        if stats["cached_images"] != images:
            sys.exit(f"{name}: expected {images} images cached, the log says {stats['cached_images']}")
    rows = [
        ("time to trained head (whole run, s)", one_s, two_s, one_s / two_s),
        ("bottleneck cache (images/s)", images / one["cache_s"], images / two["cache_s"],
         one["cache_s"] / two["cache_s"]),
        ("head training (s)", one["train_s"], two["train_s"], one["train_s"] / two["train_s"]),
        ("test accuracy (%)", one["accuracy"], two["accuracy"], float("nan")),
    ]
    print(f"\n{'':38s} {'1 worker':>10s} {'2 workers':>10s} {'speed-up':>9s}")
    for label, a, b, ratio in rows:
        print(f"{label:38s} {a:10.2f} {b:10.2f} {ratio:8.2f}x" if ratio == ratio else
              f"{label:38s} {a:10.2f} {b:10.2f}")
    print("\nspeed-up = 1-worker time / 2-worker time (>1: two workers faster). Two workers on one "
          "machine share its cores; on separate machines or GPUs each brings its own.")


if __name__ == "__main__":
    main()
