"""Temperature scaling on finished model folders: the test split's calibration before and after.

For each model folder: the temperature is fitted on the validation drawings its splits.json lists,
with `qdretrain train`'s code (retrain/evaluation/temperature.py: up to 2,000, the same fit; a native
folder lists only a sample of its validation split, where training draws from all of it), then the
test drawings are scored at T = 1 and at T. Prints expected calibration error, negative log-likelihood
and top-1 for both (top-1 must not move: dividing logits by T keeps their order). The folders are read,
never changed, so this measures what `--temperature_scaling` (the default) does to models trained without it,
e.g. the model folders of a bench_many.py run made before the option existed.

    .venv/bin/python bench/bench_calibration.py RUN_DIR/quickdraw_cnn RUN_DIR/mobilenet_1.0_224_head ...
    .venv/bin/python bench/bench_calibration.py --test_limit 3000 MODEL_DIR ...   # a seeded test sample
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from retrain.data.records import ImageRecord  # noqa: E402
from retrain.evaluation.metrics import calibration  # noqa: E402
from retrain.data.split import seeded_subset as sample  # noqa: E402
from retrain.evaluation.temperature import MAX_DRAWINGS, fit_temperature, logits_of, softmax  # noqa: E402
from retrain.evaluation.test_images import model_inputs, split_items  # noqa: E402
from retrain.model_folder import contract  # noqa: E402
from retrain.model_folder.saved_model import load_keras_model  # noqa: E402


def records(model_dir: str, split: str, labels: list) -> list:
    """The split's drawings of a model folder as ImageRecords (QuickDraw rows or image files)."""
    index = {label: i for i, label in enumerate(labels)}
    found = []
    for source, label in split_items(model_dir, split):
        path, _, row = source.rpartition("#") if "#" in source else (source, "", "")
        found.append(ImageRecord(label=label, label_index=index[label], relpath=source,
                                 source=path or source, row=int(row) if row else None))
    return found


def scores(logits: np.ndarray, true: np.ndarray, temperature: float) -> dict:
    probabilities = softmax(logits / temperature)
    nll = -np.mean(np.log(np.maximum(probabilities[np.arange(len(true)), true], 1e-30)))
    return {"ece": calibration(probabilities, true)[0], "nll": float(nll),
            "top1": float(np.mean(probabilities.argmax(1) == true))}


def measure(model_dir: str, test_limit: int, seed: int) -> dict:
    info = contract.read_json(os.path.join(model_dir, "model_info.json"))
    labels = contract.read_labels(os.path.join(model_dir, contract.LABELS_FILE))
    family, size = info.get("family", "tfhub_head"), int(info["input_height"])
    classifier = load_keras_model(os.path.join(model_dir, "saved_model"))
    result = {"model": os.path.basename(os.path.normpath(model_dir)), "family": family}
    start = time.time()
    fitted_on = sample(records(model_dir, "validation", labels), MAX_DRAWINGS, seed)
    kept, inputs = model_inputs(fitted_on, size, family)
    temperature = fit_temperature(logits_of(classifier, inputs), np.array([fitted_on[i].label_index for i in kept]))
    result.update(temperature=temperature, validation_drawings=len(kept), fit_seconds=time.time() - start)
    tested = records(model_dir, "testing", labels)
    tested = sample(tested, test_limit, seed) if test_limit else tested
    kept, inputs = model_inputs(tested, size, family)
    logits, true = logits_of(classifier, inputs), np.array([tested[i].label_index for i in kept])
    result.update(test_drawings=len(kept), before=scores(logits, true, 1.0), after=scores(logits, true, temperature))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dirs", nargs="+")
    parser.add_argument("--test_limit", type=int, default=0, help="score a seeded sample of the test split (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (training's --seed, 0 by default)")
    args = parser.parse_args()
    print("| model | T | fitted on | test drawings | ECE before -> after | NLL before -> after | top-1 before / after |")
    print("|---|---|---|---|---|---|---|")
    for model_dir in args.model_dirs:
        r = measure(model_dir, args.test_limit, args.seed)
        b, a = r["before"], r["after"]
        print(f"| {r['model']} | {r['temperature']:.2f} | {r['validation_drawings']} ({r['fit_seconds']:.0f} s) | "
              f"{r['test_drawings']} | {100 * b['ece']:.1f}% -> {100 * a['ece']:.1f}% | {b['nll']:.3f} -> "
              f"{a['nll']:.3f} | {100 * b['top1']:.2f} / {100 * a['top1']:.2f}% |", flush=True)
        print("  " + json.dumps(r), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
