"""The web export in Chromium: folder size, cold load to first prediction, per-drawing latency, and
top-1 agreement with LiteRT in Python on the same drawings.

  .venv/bin/python bench/bench_web.py --model_dir M        # a model already exported with --formats web
  .venv/bin/python bench/bench_web.py                      # trains one first (see below)

Without --model_dir it trains mobilenet_0.25_224 (the embedded backbone) on --classes classes of real
strokes from ../shared/data/quickdraw_ndjson (where absent: the stand-in drawings of the browser tests),
exports it with --formats web, then replays --per_class drawings of each of --test_classes classes.
Prints one JSON report; --output also writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHARED_DRAWINGS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "quickdraw_ndjson"


def _train_and_export(root: Path, classes: int, steps: int) -> Path:
    from click.testing import CliRunner

    from retrain.cli.main import cli
    drawings = root / "drawings"
    if SHARED_DRAWINGS.exists():
        drawings.mkdir()
        for path in sorted(SHARED_DRAWINGS.glob("*.ndjson"))[:classes]:
            shutil.copy(path, drawings / path.name)
    else:
        from tests.test_serve_browser import _write_standin_drawings
        _write_standin_drawings(drawings)
    out = root / "model"
    for args in (["--quickdraw_dir", str(drawings), "--architecture", "mobilenet_0.25_224", "--output_dir",
                  str(out), "--bottleneck_dir", str(root / "bottlenecks"), "--how_many_training_steps", str(steps),
                  "--optimizer", "adam", "--learning_rate", "0.01"],
                 ["export", "--model_dir", str(out), "--formats", "web"]):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        if result.exit_code != 0:
            sys.exit(result.output)
    return out


def _drawings(test_classes: int, per_class: int) -> list:
    from android_export.web_check import read_drawings
    if SHARED_DRAWINGS.exists():
        files = sorted(SHARED_DRAWINGS.glob("*.ndjson"))
        step = max(1, len(files) // test_classes)
        return [d for path in files[::step][:test_classes] for d in read_drawings(str(path), 0, per_class)]
    from tests.test_serve_browser import CLASSES, _write_standin_drawings
    folder = Path(tempfile.mkdtemp()) / "standins"
    _write_standin_drawings(folder)
    return [d for label in CLASSES for d in read_drawings(str(folder / f"{label}.ndjson"), 0, per_class)]


def _folder_size(folder: Path) -> dict:
    sizes = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    wasm = sum(v for k, v in sizes.items() if k.startswith("litert/"))
    return {"total_mb": round(sum(sizes.values()) / 1e6, 2), "runtime_mb": round(wasm / 1e6, 2),
            "model_mb": round(sizes.get("model.tflite", 0) / 1e6, 2),
            "loaded_by_chromium_mb": round((sum(sizes.values()) - sum(
                v for k, v in sizes.items() if "compat" in k)) / 1e6, 2)}


def main(argv=None) -> dict:
    from android_export import web_check
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", help="A model dir exported with --formats web (else one is trained).")
    parser.add_argument("--classes", type=int, default=20, help="Classes to train on [20].")
    parser.add_argument("--steps", type=int, default=300, help="Training steps [300].")
    parser.add_argument("--test_classes", type=int, default=50, help="Classes the test drawings come from [50].")
    parser.add_argument("--per_class", type=int, default=4, help="Test drawings per class [4].")
    parser.add_argument("--loads", type=int, default=3, help="Cold page loads timed [3].")
    parser.add_argument("--output", help="Also write the report here (JSON).")
    args = parser.parse_args(argv)
    started = time.time()
    model_dir = Path(args.model_dir) if args.model_dir else _train_and_export(
        Path(tempfile.mkdtemp(prefix="bench_web_")), args.classes, args.steps)
    folder = model_dir / "web"
    drawings = _drawings(args.test_classes, args.per_class)
    with web_check.static_server(str(folder)) as url:
        run = web_check.run_page(url, drawings)
        # More cold loads (a fresh browser each: no cache), each to its first prediction.
        colds = [run.cold_load_ms] + [web_check.run_page(url, drawings[:1]).cold_load_ms
                                      for _ in range(args.loads - 1)]
    comparison = web_check.compare_with_litert(str(folder), run.answers)
    model_ms = [a["modelMs"] for a in run.answers[1:]]  # the first inference warms up: in the cold load
    draw_ms = [a["drawMs"] for a in run.answers[1:]]
    total_ms = sorted(m + d for m, d in zip(model_ms, draw_ms))
    with open(folder / "model.json") as handle:
        info = json.load(handle)
    report = {
        "model": {"architecture": info["architecture"], "labels": len(info["labels"]),
                  "input": f"{info['input_width']}x{info['input_height']}", "runtime": info["runtime"]},
        "real_data": SHARED_DRAWINGS.exists(), "drawings": len(drawings),
        "size": _folder_size(folder),
        "cold_load_to_first_prediction_ms": {"median": round(statistics.median(colds), 1),
                                             "runs": [round(c, 1) for c in colds]},
        "per_drawing_ms": {"model_median": round(statistics.median(model_ms), 2),
                           "drawing_contract_median": round(statistics.median(draw_ms), 2),
                           "total_p50": round(total_ms[len(total_ms) // 2], 2),
                           "total_p95": round(total_ms[int(len(total_ms) * 0.95)], 2)},
        "agreement_with_litert": comparison,
        "offline": {"foreign_requests": run.foreign_requests, "page_errors": run.page_errors},
        "bench_seconds": round(time.time() - started, 1),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return report


if __name__ == "__main__":
    main()
