"""Today's training vs rendering-robust training, side by side, on the ../shared QuickDraw data.

For each architecture: train the head twice on the same bitmaps and seed, `--renderings 1` (today) and
`--renderings K` (robust), then report the whole rendering panel (retrain/evaluation/panel.py) on the test split's
bitmaps, the canvas rows on the ../shared .ndjson strokes of the same classes (never trained on), the
worst row, head training time and the cost on the training rendering.

    python bench/bench_robustness.py            # full: 0.25 and 1.0, 1000 a class
    python bench/bench_robustness.py --quick    # 0.25 only, 200 a class
"""

from __future__ import annotations

import argparse
import json
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo, for bench/
from bench.harness import run_cli  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
# Offline: the real modules in ../shared (tfhub.dev is out of reach here).
MODULES = {"mobilenet_1.0_224": os.path.join(os.path.dirname(ROOT), "shared", "modules", "mobilenet_v1_100_224"),
           "mobilenet_0.25_224": os.path.join(os.path.dirname(ROOT), "shared", "modules", "mobilenet_v1_025_224")}


# name -> (--renderings, --input_preprocessing). "today" is the behaviour before issue 9.
VARIANTS = {"today": (1, "none"), "renderings": (3, "none"), "bitmap28": (3, "bitmap28"),
            "bitmap28_ink": (3, "bitmap28_ink"), "default": (3, "auto")}


def train(arch: str, per_class: int, renderings: int, preprocessing: str, out: str,
          steps: int) -> tuple[dict, float]:
    """One retrain run; returns its evaluation.json and training seconds."""
    command = ["--quickdraw_dir", os.path.join(SHARED, "quickdraw_bitmaps"),
               "--quickdraw_per_class", str(per_class), "--architecture", arch, "--renderings", str(renderings),
               "--input_preprocessing", preprocessing,
               "--bottleneck_dir", os.path.join(out, "..", "bottlenecks"),
               "--how_many_training_steps", str(steps), "--seed", "0"]
    if arch in MODULES:
        command += ["--tfhub_module", MODULES[arch]]
    done = run_cli(command, out, quiet=True)
    return done.evaluation, done.training_seconds


def canvas_rows(model_dir: str, labels: list[str], input_size: int) -> dict:
    """The canvas rows on the shared .ndjson strokes of the trained classes (25 a class)."""
    from android_export.runners import open_artifact
    from retrain.evaluation import panel
    from retrain.data import quickdraw_source
    index = quickdraw_source.scan(os.path.join(SHARED, "quickdraw_ndjson"), per_class=25, seed=0)
    keep = [r for r in index.records if r.label in labels]
    import dataclasses
    records = [dataclasses.replace(r, label_index=labels.index(r.label)) for r in keep]
    runner = open_artifact(os.path.join(model_dir, "saved_model"))
    rows = panel.run_panel(runner.predict, records, input_size, rows=[r for r in panel.ROWS])
    return {**{r.name: r.top1 for r in rows}, **other_renderer_rows(runner.predict, records, input_size)}


def other_renderer_rows(predict, records, input_size: int) -> dict:
    """The canvas rows drawn by another renderer than ours: PIL's aliased ImageDraw lines (round joints
    and caps, no supersampling) on the 512 canvas, as a quick app might draw them — the model must not
    depend on our renderer's exact strokes (issue 9)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from retrain.evaluation import panel
    from retrain.data.images import pixels_to_input
    truth = np.array([r.label_index for r in records])
    # The panel's own reading of the strokes (each file once), placed on its canvas.
    strokes = [panel._on_canvas(source.strokes) for source in panel.sources_for(records)]
    out = {}
    for name, width in panel.CANVAS_WIDTHS.items():
        images = []
        for drawing in strokes:
            canvas = Image.new("L", (panel.CANVAS_SIDE, panel.CANVAS_SIDE), 255)
            pen = ImageDraw.Draw(canvas)
            for xs, ys in drawing:
                points = list(zip(xs, ys))
                if len(points) > 1:
                    pen.line(points, fill=0, width=int(width), joint="curve")
                r = width / 2
                for x, y in (points[0], points[-1]):
                    pen.ellipse([x - r, y - r, x + r, y + r], fill=0)
            rgb = np.repeat(np.asarray(canvas)[:, :, None], 3, axis=2)
            images.append(pixels_to_input(rgb[None], input_size).numpy()[0])
        scores = np.concatenate([predict(np.stack(images[i:i + 64])) for i in range(0, len(images), 64)])
        out[f"pil_canvas_{name}"] = float((scores.argmax(axis=1) == truth).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="mobilenet_0.25_224 only, 200 drawings a class")
    parser.add_argument("--variants", default="today,default",
                        help=f"comma-separated, from {', '.join(VARIANTS)} (renderings / input preprocessing)")
    parser.add_argument("--archs", default=None, help="comma-separated architectures (default: by --quick)")
    parser.add_argument("--per_class", type=int, default=None)
    parser.add_argument("--work", default="/tmp/bench_robustness")
    args = parser.parse_args()
    archs = ["mobilenet_0.25_224"] if args.quick else ["mobilenet_0.25_224", "mobilenet_1.0_224"]
    archs = args.archs.split(",") if args.archs else archs
    per_class, steps = (200, 1000) if args.quick else (1000, 4000)
    per_class = args.per_class or per_class
    variants = args.variants.split(",")
    sys.path.insert(0, ROOT)
    results = {}
    for arch in archs:
        for name in variants:
            k, preprocessing = VARIANTS[name]
            out = os.path.join(args.work, arch, name)
            evaluation, seconds = train(arch, per_class, k, preprocessing, out, steps)
            with open(os.path.join(out, "retrained_labels.txt")) as handle:
                labels = [line.strip() for line in handle if line.strip()]
            test_rows = {n: v["top1"] for n, v in evaluation["panel"]["rows"].items()}
            strokes = canvas_rows(out, labels, 224)
            results[(arch, name)] = (test_rows, strokes, seconds)
    print_table(results)
    with open(os.path.join(args.work, "results.json"), "w") as handle:
        json.dump({f"{a}/{n}": {"test": t, "strokes": s, "head_seconds": sec}
                   for (a, n), (t, s, sec) in results.items()}, handle, indent=1)


def print_table(results: dict) -> None:
    """One column per (architecture, variant): every panel row, the canvas rows on the shared strokes,
    the worst of all, and the head's training time."""
    width = 18
    print(f"{'row':<26}" + "".join(f"{a.replace('mobilenet_', '')}/{n}"[:width - 1].ljust(width)
                                   for a, n in results))
    first = next(iter(results.values()))
    names = [n for n in first[0] if first[0][n] is not None] + \
        [f"strokes:{n}" for n in first[1] if first[1][n] is not None]
    for row in names:
        cells = [strokes[row[8:]] if row.startswith("strokes:") else test_rows[row]
                 for test_rows, strokes, _ in results.values()]
        print(f"{row:<26}" + "".join(f"{100 * v:.1f}%".ljust(width) for v in cells))
    worst = [min(v for v in [*t.values(), *s.values()] if v is not None) for t, s, _ in results.values()]
    print(f"{'worst':<26}" + "".join(f"{100 * v:.1f}%".ljust(width) for v in worst))
    print(f"{'head train s':<26}" + "".join(f"{sec:.1f}".ljust(width) for _, _, sec in results.values()))

if __name__ == "__main__":
    main()
