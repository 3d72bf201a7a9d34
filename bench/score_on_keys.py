"""Score a native model folder on another run's test drawings (the keys of its splits.json).

A TF-Hub head scans only N drawings a class, so it is scored on its own subset of the stable split;
this puts a native model on exactly those drawings, through training's own metrics
(retrain.evaluation.evaluate), for a like-for-like row in docs/benchmarks.md.

    .venv/bin/python bench/score_on_keys.py NATIVE_MODEL_DIR OTHER_RUN_DIR/splits.json DRAWINGS_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from retrain.data.bitmap_ink import ink_to_contract  # noqa: E402
from retrain.evaluation.evaluate import evaluate  # noqa: E402
from retrain.model_folder import contract  # noqa: E402
from retrain.model_folder.saved_model import load_keras_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("splits_json")
    parser.add_argument("drawings_dir", help="the --quickdraw_dir both runs read")
    args = parser.parse_args()
    labels = contract.read_labels(os.path.join(args.model_dir, contract.LABELS_FILE))
    rows_by_label: dict = {}
    for key in json.load(open(args.splits_json))["testing"]:  # "<label>/<file>.npy#<row>"
        path, row = key.rsplit("#", 1)
        rows_by_label.setdefault(path.split("/", 1)[0], []).append(int(row))
    inks, truth, names = [], [], []
    for label, rows in rows_by_label.items():
        rows = sorted(rows)
        drawings = np.load(os.path.join(args.drawings_dir, label + ".npy"), mmap_mode="r")
        inks.append(np.asarray(drawings[rows]).reshape(-1, 28, 28, 1))
        truth += [labels.index(label)] * len(rows)
        names += [f"{label}#{row}" for row in rows]
    x = np.concatenate(inks)
    model = load_keras_model(os.path.join(args.model_dir, "saved_model"))
    probabilities = np.concatenate([model(ink_to_contract(x[i:i + 500], 28), training=False).numpy()
                                    for i in range(0, len(x), 500)])
    result = evaluate(probabilities, np.array(truth), labels, names)
    below = sum(1 for s in result.per_class.values() if s["count"] and s["accuracy"] is not None and s["accuracy"] < 0.6)
    print(f"{len(x)} drawings: macro {100 * result.macro_top1:.1f}% micro {100 * result.top1:.1f}% "
          f"MAP@3 {100 * result.map3:.1f}% classes<60% {below}")


if __name__ == "__main__":
    main()
