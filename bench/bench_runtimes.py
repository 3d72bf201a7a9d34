"""Runtime benchmark: each family's default model, float and int8, top-1 in every runtime apps link.

Trains the default model of each family through the CLI, as a user would (real drawings from
../shared/data/quickdraw_bitmaps, the real MobileNet v1 0.25 module from ../shared/modules):
  drawings  mobilenet_0.25_224 head, default --input_preprocessing (bitmap28_ink: inside the model)
  native    quickdraw_cnn_small
  photos    mobilenet_0.25_224 head with --input_preprocessing none (what photos get)
exports model.tflite and model_int8.tflite (`--export tflite,tflite_int8`), and classifies the same
held-back test drawings (the drawings model's test split, as PNGs of each model's input size) in LiteRT
(this venv) and the clients of .ci/setup_clients: MediaPipe Tasks 0.10.21 and current, the TFLite Task
Library 0.4.4. A runtime that cannot run a model shows its error instead of a number.

    .venv/bin/python bench/bench_runtimes.py [--classes 5] [--per_class 150] [--steps 500]
    .venv/bin/python bench/bench_runtimes.py --model_dir drawings_old=PATH ...  (also rows for exported dirs)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
MODULE = SHARED / "modules" / "mobilenet_v1_025_224"
MODEL_FILES = ("model.tflite", "model_int8.tflite")


def train_family(family: str, data: str, out: str, args) -> None:
    """`qdretrain train` with the family's defaults (in a subprocess: each run gets a fresh TF)."""
    common = ["--quickdraw_dir", data, "--quickdraw_per_class", str(args.per_class), "--output_dir", out,
              "--how_many_training_steps", str(args.steps), "--export", "tflite,tflite_int8"]
    if family == "native":
        extra = ["--architecture", "quickdraw_cnn_small"]
    else:
        extra = ["--architecture", "mobilenet_0.25_224", "--tfhub_module", str(MODULE),
                 "--bottleneck_dir", os.path.join(os.path.dirname(out), "bottlenecks")]
        if family == "photos":
            extra += ["--input_preprocessing", "none"]
    command = [sys.executable, "-m", "retrain", "train", *common, *extra]
    result = subprocess.run(command, capture_output=True, text=True, cwd=str(REPO))
    if result.returncode != 0:
        sys.exit(f"training {family} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    for line in result.stdout.splitlines():
        if line.startswith(("Final test accuracy", "WARNING: model_int8")):
            print(f"  {family}: {line}")


def held_out_items(data: str, labels: list, per_class: int, count: int) -> list:
    """(source, label) of `count` drawings a class that training never saw: the seeded choice for
    per_class + count minus the one for per_class (the smaller choice is a subset of the larger)."""
    from convert import sources
    items = []
    for label in labels:
        file = os.path.abspath(os.path.join(data, f"{label}.npy"))
        total = sources.open_bitmaps(file).shape[0]
        seen = set(sources.select_indices(total, per_class, 0, label).tolist())
        rows = [r for r in sources.select_indices(total, per_class + count, 0, label).tolist() if r not in seen]
        items.extend((f"{file}#{row}", label) for row in rows[:count])
    return items


def test_pngs(model_dir: str, items: list, folder: str) -> tuple[list, list, list]:
    """(PNG paths, label indices, labels): the drawings at this model's input size, as the export renders them."""
    from PIL import Image

    from retrain.evaluation import test_images as images
    from retrain.model_folder import contract as outputs
    labels = outputs.read_labels(os.path.join(model_dir, outputs.LABELS_FILE))
    size = int(outputs.read_json(os.path.join(model_dir, outputs.MODEL_INFO_FILE))["input_height"])
    data = images.load_items(items, labels, size, size, 127.5, 127.5, len(items), 0)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, image in enumerate(data.images):
        path = os.path.join(folder, f"{i:04d}.png")
        Image.fromarray(np.clip(np.round(image * 127.5 + 127.5), 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths, list(data.label_indices), labels


def litert_labels(model_path: str, paths: list, labels: list) -> list:
    from PIL import Image

    from android_export.runners import TFLiteRunner
    batch = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in paths])
    return [labels[i] for i in TFLiteRunner(model_path).predict_in_batches((batch - 127.5) / 127.5).argmax(1)]


def bench_model_dir(name: str, model_dir: str, items: list, work: str) -> list:
    """Rows (family, file, size, {runtime: top-1 or error}) for one exported model dir."""
    from android_export import runtime_compat
    from tests import real_clients
    paths, truth, labels = test_pngs(model_dir, items, os.path.join(work, f"png_{name}"))
    truth_names = [labels[i] for i in truth]
    rows = []
    for file_name in MODEL_FILES:
        path = os.path.join(model_dir, file_name)
        results = {}
        got = litert_labels(path, paths, labels)
        results["LiteRT 2.3"] = float(np.mean([g == t for g, t in zip(got, truth_names)]))
        for client_name, client in real_clients.CLIENTS.items():
            title = f"{client.package} {real_clients.version(client) if client.python.exists() else '?'}"
            if real_clients.missing_reason(client):
                results[title] = "absent"
                continue
            run = real_clients.classify(client, path, paths)
            results[title] = run.error if run.error else float(
                np.mean([row["label"] == t for row, t in zip(run.top1, truth_names)]))
        with open(path, "rb") as handle:
            gaps = [gap.label for gap in runtime_compat.gaps_in(handle.read())]
        rows.append((name, file_name, os.path.getsize(path), results, gaps, len(paths)))
    return rows


def print_table(rows: list) -> None:
    runtimes = list(rows[0][3])
    print(f"\n| family | file | size | {' | '.join(runtimes)} | ops older runtimes lack |")
    print("|" + "---|" * (len(runtimes) + 4))
    for name, file_name, size, results, gaps, _ in rows:
        cells = [f"{100 * v:.1f}%" if isinstance(v, float) else f"fails ({v[:60]})" for v in results.values()]
        print(f"| {name} | {file_name} | {size / 1e6:.2f} MB | {' | '.join(cells)} | {', '.join(gaps) or '-'} |")
    print(f"\n(top-1 on the same {rows[0][5]} drawings, none seen in training)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--per_class", type=int, default=150, help="drawings a class (train + val + test)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--test_per_class", type=int, default=100, help="held-out test drawings a class")
    parser.add_argument("--families", default="drawings,native,photos")
    parser.add_argument("--model_dir", action="append", default=[],
                        help="NAME=PATH: also bench an already exported model dir (e.g. an older export)")
    parser.add_argument("--work_dir", default=None, help="keep the trained models here (default: a temp dir)")
    args = parser.parse_args()
    if not MODULE.is_dir():
        sys.exit(f"{SHARED} is absent: the benchmark needs the real module and drawings in ../shared.")
    start = time.time()
    work = args.work_dir or tempfile.mkdtemp(prefix="bench_runtimes_")
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    # The first N classes (train.npy is not a class), linked so the CLI sees a folder of exactly them.
    files = sorted(p for p in (SHARED / "data" / "quickdraw_bitmaps").glob("*.npy") if p.stem != "train")
    for path in files[:args.classes]:
        if not os.path.exists(os.path.join(data, path.name)):
            os.symlink(path, os.path.join(data, path.name))
    print(f"{args.classes} classes ({', '.join(p.stem for p in files[:args.classes])}), {args.per_class} "
          f"drawings a class, {args.steps} steps")
    dirs = {}
    for family in args.families.split(","):
        out = os.path.join(work, family)
        if not os.path.exists(os.path.join(out, "model_int8.tflite")):
            train_family(family, data, out, args)
        dirs[family] = out
    for spec in args.model_dir:
        name, path = spec.split("=", 1)
        dirs[name] = path
    from retrain.model_folder import contract as outputs
    labels = outputs.read_labels(os.path.join(next(iter(dirs.values())), outputs.LABELS_FILE))
    items = held_out_items(data, labels, args.per_class, args.test_per_class)
    rows = []
    for name, path in dirs.items():
        rows.extend(bench_model_dir(name, path, items, work))
    print_table(rows)
    print(f"({time.time() - start:.0f}s; models in {work})")


if __name__ == "__main__":
    main()
