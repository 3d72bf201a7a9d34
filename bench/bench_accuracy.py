"""Accuracy on the 13 real Quick, Draw! classes in ../shared, with the real MobileNet weights.

Runs the real CLI (`python -m retrain`) straight from the QuickDraw .npy files (--quickdraw_dir), so it
measures what a user gets: stable split, cached bottlenecks, head training, test evaluation. Prints test
top-1/top-5 and wall time per configuration. Published reference on a similar 10-class QuickDraw subset:
88.6% (plain CNN) to 95.3% (with augmentation).

    .venv/bin/python bench/bench_accuracy.py [--per_class 1000] [--steps 4000] [--fine_tune_steps 300] [--full]

--fine_tune_steps 0 skips the fine-tuning run (slow on CPU: the backbone trains on every image).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo, for bench/
from bench.harness import run_cli  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")


def run(name: str, args: list[str], workdir: str) -> dict:
    done = run_cli([*args, "--bottleneck_dir", os.path.join(workdir, "bottlenecks")], os.path.join(workdir, name))
    evaluation = done.evaluation
    return {"name": name, "top1": evaluation["top1"], "top5": evaluation["top5"],
            "count": evaluation["count"], "seconds": done.seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per_class", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--fine_tune_steps", type=int, default=300)
    parser.add_argument("--workdir", default=None, help="keep outputs and cache here (default: temp)")
    parser.add_argument("--full", action="store_true",
                        help="also train mobilenet_1.0_224 on every drawing (33k; ~7 min on 2 cores)")
    args = parser.parse_args()
    bitmaps = os.path.join(SHARED, "data", "quickdraw_bitmaps")
    modules = {"mobilenet_1.0_224": os.path.join(SHARED, "modules", "mobilenet_v1_100_224"),
               "mobilenet_0.25_224": os.path.join(SHARED, "modules", "mobilenet_v1_025_224")}
    if not os.path.isdir(bitmaps):
        raise SystemExit(f"skipped: {bitmaps} is absent (real data lives in ../shared)")
    workdir = args.workdir or tempfile.mkdtemp(prefix="qdretrain-accuracy-")
    common = ["--quickdraw_dir", bitmaps, "--quickdraw_per_class", str(args.per_class),
              "--optimizer", "adam", "--learning_rate", "0.001", "--dropout", "0.2",
              "--eval_step_interval", "100"]
    rows = []
    for arch, module in modules.items():
        rows.append(run(f"{arch} head", ["--architecture", arch, "--tfhub_module", module, *common,
                                         "--how_many_training_steps", str(args.steps)], workdir))
        print(rows[-1], flush=True)
    if args.full:
        rows.append(run("mobilenet_1.0_224 head, all", [
            "--architecture", "mobilenet_1.0_224", "--tfhub_module", modules["mobilenet_1.0_224"],
            "--quickdraw_dir", bitmaps, "--quickdraw_per_class", "1000000", "--optimizer", "adam",
            "--learning_rate", "0.001", "--dropout", "0.2", "--label_smoothing", "0.1",
            "--eval_step_interval", "100", "--how_many_training_steps", "8000"], workdir))
        print(rows[-1], flush=True)
    if args.fine_tune_steps:
        # Fine-tuning reads image files: convert the same drawings once.
        images = os.path.join(workdir, "images")
        subprocess.run([sys.executable, "-m", "retrain", "convert", bitmaps, "--output_dir", images,
                        "--per_class", str(args.per_class)], cwd=REPO, check=True, capture_output=True)
        rows.append(run("mobilenet_1.0_224 fine-tune", [
            "--architecture", "mobilenet_1.0_224", "--tfhub_module", modules["mobilenet_1.0_224"],
            "--image_dir", images, "--fine_tune", "--optimizer", "adam", "--learning_rate", "0.001",
            "--fine_tune_learning_rate", "0.0005", "--train_batch_size", "32",
            "--eval_step_interval", "50", "--how_many_training_steps", str(args.fine_tune_steps)], workdir))
        print(rows[-1], flush=True)
    print(f"\n{args.per_class} drawings per class (all with --full), 13 classes, 10% test split (hash-stable)")
    print(f"{'configuration':32s} {'top-1':>7s} {'top-5':>7s} {'test N':>7s} {'wall s':>8s}")
    for row in rows:
        print(f"{row['name']:32s} {100 * row['top1']:6.1f}% {100 * row['top5']:6.1f}% {row['count']:7d} "
              f"{row['seconds']:8.0f}")
    print("reference (similar 10-class subset): 88.6% plain CNN, 95.3% with augmentation")


if __name__ == "__main__":
    main()
