"""Export benchmark: size, single-image CPU latency (1 thread) and test accuracy of each artifact.

For MobileNet v1 1.0/224 and 0.25/224 (the real modules in ../shared/modules), a head is trained on a few
hundred real Quick, Draw! drawings (../shared/data/quickdraw_bitmaps), then TFLite float32 / float16 /
int8, ONNX and the frozen graph are made and timed side by side in one run, one image at a time on one
thread (what a phone app does per frame).

    .venv/bin/python bench/bench_export.py [--classes 5] [--train_per_class 60] [--test_per_class 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
MODULES = {"mobilenet_1.0_224": "mobilenet_v1_100_224", "mobilenet_0.25_224": "mobilenet_v1_025_224"}


def load_drawings(classes: int, train: int, test: int, size: int):
    """(x_train, y_train, x_test, y_test, labels): drawings rendered as the trainer does, normalised."""
    from retrain.data import quickdraw_source
    from common.tfcompat import tf
    files = sorted((SHARED / "data" / "quickdraw_bitmaps").glob("*.npy"))[:classes]
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for index, path in enumerate(files):
        bitmaps = np.load(path, mmap_mode="r")
        rows = rng.choice(len(bitmaps), train + test, replace=False)
        pixels = np.stack([quickdraw_source.render(np.asarray(bitmaps[r])) for r in rows]).astype(np.float32)
        resized = tf.image.resize(pixels, [size, size], method="bilinear").numpy()
        xs.append((np.clip(resized, 0, 255) - 127.5) / 127.5)
        ys.append(np.full(train + test, index))
    x = np.stack(xs)  # [classes, n, H, W, 3]
    y = np.stack(ys)
    return (x[:, :train].reshape(-1, size, size, 3), y[:, :train].reshape(-1),
            x[:, train:].reshape(-1, size, size, 3), y[:, train:].reshape(-1), [p.stem for p in files])


def train_classifier(architecture: str, x_train, y_train, num_classes: int):
    from retrain.families import architectures
    from retrain.families.hub_head import hub_modules, model as model_lib
    from common.tfcompat import keras
    spec = architectures.get(architecture)
    module = hub_modules.resolve_module(spec, str(SHARED / "modules" / MODULES[architecture]))
    keras.utils.set_random_seed(0)
    head = model_lib.build_head(spec.feature_size, num_classes)
    classifier = model_lib.build_classifier(spec, module, head)
    backbone = keras.Model(classifier.input, classifier.get_layer("backbone").output)
    features = backbone.predict(x_train, batch_size=32, verbose=0)
    head.compile(optimizer=keras.optimizers.Adam(1e-3),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    head.fit(features, y_train, epochs=60, batch_size=32, verbose=0)
    return classifier


def latency_ms(runner, image: np.ndarray, repeats: int) -> float:
    """Median milliseconds of one single-image call, after two warm-up calls."""
    for _ in range(2):
        runner.predict(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner.predict(image)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def bench_architecture(architecture: str, data, repeats: int, work: str) -> list[tuple]:
    from retrain.model_folder import frozen_graph
    from android_export import runners, tflite_convert
    from android_export.onnx_export import graph_def_to_onnx
    x_train, y_train, x_test, y_test, labels = data
    classifier = train_classifier(architecture, x_train, y_train, len(labels))
    reference = classifier.predict(x_test, batch_size=32, verbose=0)
    rows = [("keras (reference)", None, float(np.mean(reference.argmax(1) == y_test)), None, 1.0)]
    calibration = lambda: iter(x_train[::2])  # noqa: E731  (every 2nd training drawing)
    paths = {}
    for precision in ("float32", "float16", "int8"):
        path = os.path.join(work, f"{architecture}_{precision}.tflite")
        with open(path, "wb") as handle:
            handle.write(tflite_convert.convert(classifier, precision, calibration if precision == "int8" else None))
        paths[f"tflite {precision}"] = (path, runners.TFLiteRunner(path, num_threads=1))
    graph_def = frozen_graph.freeze_model(classifier)
    pb = os.path.join(work, f"{architecture}.pb")
    with open(pb, "wb") as handle:
        handle.write(graph_def.SerializeToString())
    onnx_path = os.path.join(work, f"{architecture}.onnx")
    with open(onnx_path, "wb") as handle:
        handle.write(graph_def_to_onnx(graph_def))
    paths["onnx"] = (onnx_path, runners.OnnxRunner(onnx_path, num_threads=1))
    paths["frozen graph (TF1)"] = (pb, runners.FrozenGraphRunner(pb, num_threads=1))
    one = x_test[:1]
    for name, (path, runner) in paths.items():
        scores = runner.predict_in_batches(x_test)
        rows.append((name, os.path.getsize(path), float(np.mean(scores.argmax(1) == y_test)),
                     latency_ms(runner, one, repeats), float(np.mean(scores.argmax(1) == reference.argmax(1)))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--train_per_class", type=int, default=60)
    parser.add_argument("--test_per_class", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--architectures", default="mobilenet_1.0_224,mobilenet_0.25_224")
    args = parser.parse_args()
    if not (SHARED / "modules").is_dir():
        sys.exit(f"{SHARED} is absent: the benchmark needs the real modules and drawings in ../shared.")
    start = time.time()
    data = load_drawings(args.classes, args.train_per_class, args.test_per_class, 224)
    print(f"{args.classes} classes: {len(data[0])} training / {len(data[2])} test drawings "
          f"({', '.join(data[4])})")
    with tempfile.TemporaryDirectory() as work:
        for architecture in args.architectures.split(","):
            rows = bench_architecture(architecture, data, args.repeats, work)
            base = next(r for r in rows if r[0] == "tflite float32")
            print(f"\n{architecture}")
            print(f"{'artifact':20s} {'size':>9s} {'x fp32':>7s} {'test acc':>9s} {'agree':>7s} "
                  f"{'ms/image':>9s} {'x fp32':>7s}")
            for name, size, accuracy, ms, agree in rows:
                size_text = f"{size / 1e6:.2f}MB" if size else ""
                size_ratio = f"{size / base[1]:.2f}" if size else ""
                ms_text = f"{ms:.2f}" if ms is not None else ""
                ms_ratio = f"{ms / base[3]:.2f}" if ms is not None else ""
                print(f"{name:20s} {size_text:>9s} {size_ratio:>7s} {accuracy:9.1%} {agree:7.1%} {ms_text:>9s} "
                      f"{ms_ratio:>7s}")
    print(f"\n(1 CPU thread, single image, median of {args.repeats}; {time.time() - start:.0f}s in all)")


if __name__ == "__main__":
    main()
