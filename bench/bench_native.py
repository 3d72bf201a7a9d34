"""Native nets trained from scratch vs the mobilenet_1.0_224 head, on the 13 real classes in ../shared.

Each configuration runs the real CLI on ../shared/data/quickdraw_bitmaps (stable hash split, same test
drawings for every model: both families hash "<label>/<file>#<row>"), then exports TFLite float and
int8. Reports test top-1 / top-5 / MAP@3, wall time to the trained model, TFLite sizes and the
single-image latency of the float TFLite model.

    .venv/bin/python bench/bench_native.py            # all drawings, 8 epochs (slow on 2 cores)
    .venv/bin/python bench/bench_native.py --quick    # 300 drawings/class, 1 epoch
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
BITMAPS = os.path.join(SHARED, "data", "quickdraw_bitmaps")


def _latency_ms(path: str, size: int, runs: int = 50) -> float:
    from retrain.tfcompat import tf
    interpreter = tf.lite.Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    x = np.zeros(detail["shape"], detail["dtype"])
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    start = time.perf_counter()
    for _ in range(runs):
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
    return (time.perf_counter() - start) / runs * 1000


def run(name: str, args: list[str], workdir: str) -> dict:
    out = os.path.join(workdir, name)
    command = [sys.executable, "-m", "retrain", *args, "--quickdraw_dir", BITMAPS, "--output_dir", out]
    started = time.monotonic()
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if completed.returncode:
        print(completed.stderr[-3000:])
        raise SystemExit(f"{name} failed")
    export = subprocess.run([sys.executable, "-m", "retrain", "export", "--model_dir", out, "--formats",
                             "tflite,tflite_int8"], cwd=REPO, capture_output=True, text=True)
    if export.returncode:
        print(export.stdout[-2000:], export.stderr[-2000:])
    evaluation = json.load(open(os.path.join(out, "evaluation.json")))
    probabilities_file = os.path.join(out, "native_evaluation.json")
    map3 = json.load(open(probabilities_file))["map_at_3"] if os.path.exists(probabilities_file) else None
    info = json.load(open(os.path.join(out, "model_info.json")))
    found = {p: os.path.getsize(os.path.join(out, p)) for p in os.listdir(out) if p.endswith(".tflite")}
    float_path = next((os.path.join(out, p) for p in found if "int8" not in p and "fp16" not in p), None)
    return {"name": name, "top1": evaluation["top1"], "top5": evaluation["top5"], "map3": map3,
            "count": evaluation["count"], "seconds": seconds, "tflite": found,
            "latency_ms": _latency_ms(float_path, info["input_height"]) if float_path else None,
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 drawings/class, 1 epoch")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--skip_head", action="store_true", help="leave out the mobilenet_1.0_224 head")
    parser.add_argument("--augment", action="store_true",
                        help="train the native nets with drawing augmentation (rotation, shift, zoom, stroke)")
    parser.add_argument("--only", default="", help="comma-separated native nets to run (default: all three)")
    args = parser.parse_args()
    per_class = ["--quickdraw_per_class", "300"] if args.quick else []
    epochs = "1" if args.quick else str(args.epochs)
    native = ["--epochs", epochs, "--train_batch_size", "100", "--learning_rate", "0.002",
              "--warmup_steps", "20" if args.quick else "200", "--lr_schedule", "cosine", *per_class,
              *(["--augment"] if args.augment else [])]
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for arch in (args.only.split(",") if args.only else ("quickdraw_cnn", "quickdraw_cnn_small", "tiny_darknet")):
            rows.append(run(arch, ["--architecture", arch, *native], workdir))
        if not args.skip_head:
            head_per_class = ["--quickdraw_per_class", "300" if args.quick else "0"]
            rows.append(run("mobilenet_1.0_224 head", [
                "--architecture", "mobilenet_1.0_224", "--tfhub_module",
                os.path.join(SHARED, "modules", "mobilenet_v1_100_224"), "--how_many_training_steps",
                "500" if args.quick else "4000", "--bottleneck_dir", os.path.join(workdir, "bn"),
                *head_per_class], workdir))
    print(f"{'model':24s} {'top-1':>7s} {'top-5':>7s} {'MAP@3':>7s} {'test':>6s} {'wall s':>7s} "
          f"{'tflite sizes':40s} {'ms/img':>7s}")
    for r in rows:
        sizes = ", ".join(f"{k.replace('.tflite', '')} {v / 1024:.0f} KB" for k, v in sorted(r["tflite"].items()))
        map3 = f"{100 * r['map3']:6.2f}%" if r["map3"] is not None else "    n/a"
        latency = f"{r['latency_ms']:7.2f}" if r["latency_ms"] else "    n/a"
        print(f"{r['name']:24s} {100 * r['top1']:6.2f}% {100 * r['top5']:6.2f}% {map3} {r['count']:6d} "
              f"{r['seconds']:7.1f} {sizes:40s} {latency}")


if __name__ == "__main__":
    main()
