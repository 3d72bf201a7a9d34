"""Score a native model folder on another run's test drawings (the keys of its splits.json).

A TF-Hub head scans only N drawings a class, so it is scored on its own subset of the stable split;
this puts a native model on exactly those drawings, through training's own metrics
(retrain.evaluation.evaluate), for a like-for-like row in docs/benchmarks.md.

    .venv/bin/python bench/score_on_keys.py NATIVE_MODEL_DIR OTHER_RUN_DIR/splits.json DRAWINGS_DIR [--output_dir D]

bench/bench_many.py runs this script (with --output_dir) for its "<native> @ <head>" rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from retrain.data.bitmap_ink import ink_to_contract  # noqa: E402
from retrain.evaluation.evaluate import EvaluationResult, evaluate, write_evaluation  # noqa: E402
from retrain.model_folder import contract  # noqa: E402
from retrain.model_folder.saved_model import load_keras_model  # noqa: E402


def score(model_dir: str, splits_json: str, drawings_dir: str) -> EvaluationResult:
    """The native model of `model_dir` scored on the "testing" keys of `splits_json`
    ("<label>/<file>.npy#<row>", rows of `drawings_dir`'s class files)."""
    labels = contract.read_labels(os.path.join(model_dir, contract.LABELS_FILE))
    rows_by_label: dict = {}
    with open(splits_json) as f:
        testing = json.load(f)["testing"]
    for key in testing:
        path, row = key.rsplit("#", 1)
        rows_by_label.setdefault(path.split("/", 1)[0], []).append(int(row))
    inks, truth, names = [], [], []
    for label, rows in rows_by_label.items():
        rows = sorted(rows)
        drawings = np.load(os.path.join(drawings_dir, label + ".npy"), mmap_mode="r")
        inks.append(np.asarray(drawings[rows]).reshape(-1, 28, 28, 1))
        truth += [labels.index(label)] * len(rows)
        names += [f"{label}#{row}" for row in rows]
    x = np.concatenate(inks)
    model = load_keras_model(os.path.join(model_dir, "saved_model"))
    probabilities = np.concatenate([model(ink_to_contract(x[i:i + 500], 28), training=False).numpy()
                                    for i in range(0, len(x), 500)])
    return evaluate(probabilities, np.array(truth), labels, names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("splits_json")
    parser.add_argument("drawings_dir", help="the --quickdraw_dir both runs read")
    parser.add_argument("--output_dir", default="", help="also write evaluation.json and its pictures here")
    args = parser.parse_args()
    result = score(args.model_dir, args.splits_json, args.drawings_dir)
    if args.output_dir:
        write_evaluation(result, args.output_dir)
    below = sum(1 for s in result.per_class.values() if s["count"] and s["accuracy"] is not None and s["accuracy"] < 0.6)
    print(f"{result.count} drawings: macro {100 * result.macro_top1:.1f}% micro {100 * result.top1:.1f}% "
          f"MAP@3 {100 * result.map3:.1f}% classes<60% {below}")


if __name__ == "__main__":
    main()
