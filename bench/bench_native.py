"""Native nets trained from scratch vs the mobilenet_1.0_224 head, on the 13 real classes in ../shared.

Each configuration runs the real CLI on ../shared/data/quickdraw_bitmaps (stable hash split, same test
drawings for every model: both families hash "<label>/<file>#<row>"), then exports TFLite float and
int8. Reports test top-1 / top-5 / MAP@3, wall time to the trained model, TFLite sizes, the
single-image latency of the float TFLite model, and the top-1 of the float32 and int8 .tflite files on
the test drawings listed in splits.json (export's own verification, export_report.json's
"quantization" rows, run on all of them: --max_test_images is lifted) with the int8 - float gap.

    .venv/bin/python bench/bench_native.py            # all drawings, 8 epochs (slow on 2 cores)
    .venv/bin/python bench/bench_native.py --quick    # 300 drawings/class, 1 epoch
    .venv/bin/python bench/bench_native.py --per_class 100 --epochs 1 --only quickdraw_cnn_small --skip_head
    .venv/bin/python bench/bench_native.py --many_classes   # 344 stroke classes x 25 (quickdraw_ndjson)

--many_classes trains the native nets (quickdraw_cnn_small unless --only) on every stroke class of
../shared/data/quickdraw_ndjson and prints top-1 / top-5 / MAP@3 and the most frequent confusions (the
evaluation's top_confusions). It exports float TFLite only and its TFLite columns are n/a: splits.json
samples only .npy rows, so export has no .ndjson drawings to calibrate int8 on, and verifies on random
inputs (agreement, not accuracy).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo, for bench/
from bench.harness import export, run_cli, tflite_latency_ms  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
BITMAPS = os.path.join(SHARED, "data", "quickdraw_bitmaps")
STROKES = os.path.join(SHARED, "data", "quickdraw_ndjson")
ALL_TEST_IMAGES = "1000000"  # --max_test_images: every test drawing splits.json lists (it caps them itself)


def tflite_accuracy(report: dict) -> dict:
    """{precision: top-1 on the export's labelled test images} from export_report.json's
    "quantization" rows (android_export/verify.py); None where it checked on random inputs."""
    return {row["precision"]: row["accuracy"] for row in report.get("quantization", [])}


def run(name: str, args: list[str], workdir: str, data: str = BITMAPS, formats: str = "tflite,tflite_int8") -> dict:
    out = os.path.join(workdir, name)
    trained = run_cli([*args, "--quickdraw_dir", data], out, quiet=True)
    seconds = trained.seconds
    exported = export(out, formats, "--max_test_images", ALL_TEST_IMAGES)
    if exported.stderr and not exported.export_report:
        print(exported.stdout[-2000:], exported.stderr[-2000:])
    report = exported.export_report
    evaluation = trained.evaluation
    map3 = evaluation.get("map_at_3")  # every evaluation.json has it (retrain/evaluation/evaluate.py)
    found = {p: os.path.getsize(os.path.join(out, p)) for p in os.listdir(out) if p.endswith(".tflite")}
    float_path = next((os.path.join(out, p) for p in found if "int8" not in p and "fp16" not in p), None)
    return {"name": name, "top1": evaluation["top1"], "top5": evaluation["top5"], "map3": map3,
            "count": evaluation["count"], "seconds": seconds, "tflite": found,
            "latency_ms": tflite_latency_ms(float_path, warmup=1) if float_path else None,
            "tflite_top1": tflite_accuracy(report), "tflite_test_images": report.get("test_images"),
            "top_confusions": evaluation.get("top_confusions"),
            }


def _percent(value) -> str:
    return f"{100 * value:6.2f}%" if value is not None else "    n/a"


def print_table(rows: list[dict]) -> None:
    print(f"{'model':24s} {'top-1':>7s} {'top-5':>7s} {'MAP@3':>7s} {'test':>6s} {'wall s':>7s} "
          f"{'tflite sizes':32s} {'ms/img':>7s} {'tfl fp32':>8s} {'tfl int8':>8s} {'int8 gap':>8s} {'on':>5s}")
    for r in rows:
        sizes = ", ".join(f"{k.replace('.tflite', '')} {v / 1024:.0f} KB" for k, v in sorted(r["tflite"].items()))
        latency = f"{r['latency_ms']:7.2f}" if r["latency_ms"] else "    n/a"
        fp32, int8 = r["tflite_top1"].get("float32"), r["tflite_top1"].get("int8")
        gap = f"{100 * (int8 - fp32):+6.2f}pt" if fp32 is not None and int8 is not None else "     n/a"
        print(f"{r['name']:24s} {100 * r['top1']:6.2f}% {100 * r['top5']:6.2f}% {_percent(r['map3'])} "
              f"{r['count']:6d} {r['seconds']:7.1f} {sizes:32s} {latency} {_percent(fp32):>8s} "
              f"{_percent(int8):>8s} {gap:>8s} {r['tflite_test_images'] or 0:5d}")


def print_confusions(rows: list[dict]) -> None:
    for r in rows:
        if r["top_confusions"]:
            print(f"\n{r['name']}: most frequent confusions (true -> predicted, count, share of the true class)")
            for p in r["top_confusions"]:
                print(f"  {p['true_label']:>24s} -> {p['predicted_label']:24s} {p['count']:4d}  {100 * p['share']:5.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 drawings/class, 1 epoch")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--skip_head", action="store_true", help="leave out the mobilenet_1.0_224 head")
    parser.add_argument("--augment", action="store_true",
                        help="train the native nets with drawing augmentation (rotation, shift, zoom, stroke)")
    parser.add_argument("--only", default="", help="comma-separated native nets to run (default: all three)")
    parser.add_argument("--per_class", type=int, default=0,
                        help="first N drawings of each class (0: all; --quick means 300)")
    parser.add_argument("--many_classes", action="store_true",
                        help="native nets only, on the 344 stroke classes x 25 drawings of quickdraw_ndjson")
    args = parser.parse_args()
    per_class_n = args.per_class or (300 if args.quick else 0)
    per_class = ["--quickdraw_per_class", str(per_class_n)] if per_class_n else []
    epochs = "1" if args.quick else str(args.epochs)
    small = args.quick or args.many_classes or 0 < per_class_n <= 300
    native = ["--epochs", epochs, "--train_batch_size", "100", "--learning_rate", "0.002",
              "--warmup_steps", "20" if small else "200", "--lr_schedule", "cosine", *per_class,
              *(["--augment"] if args.augment else [])]
    data = STROKES if args.many_classes else BITMAPS
    nets = ("quickdraw_cnn_small",) if args.many_classes else ("quickdraw_cnn", "quickdraw_cnn_small", "tiny_darknet")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for arch in (args.only.split(",") if args.only else nets):
            # int8 needs calibration drawings from splits.json, which lists no .ndjson rows (see above).
            rows.append(run(arch, ["--architecture", arch, *native], workdir, data,
                            "tflite" if args.many_classes else "tflite,tflite_int8"))
        if not args.skip_head and not args.many_classes:
            head_per_class = ["--quickdraw_per_class", "300" if args.quick else "0"]
            rows.append(run("mobilenet_1.0_224 head", [
                "--architecture", "mobilenet_1.0_224", "--tfhub_module",
                os.path.join(SHARED, "modules", "mobilenet_v1_100_224"), "--how_many_training_steps",
                "500" if args.quick else "4000", "--bottleneck_dir", os.path.join(workdir, "bn"),
                *head_per_class], workdir))
    print_table(rows)
    print_confusions(rows)


if __name__ == "__main__":
    main()
