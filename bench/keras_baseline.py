"""The plain Keras CNN a user would write from a tutorial: NumPy arrays, a small CNN, `fit`, nothing else.

    python bench/keras_baseline.py DATA_DIR OUT_DIR [--epochs 5]

Loads every .npy class file of DATA_DIR into memory (fine at 160k drawings: 125 MB), trains the
TensorFlow tutorial's CNN (two conv/pool blocks, dense 128) with Adam and cross-entropy, and writes
OUT_DIR/evaluation.json through retrain/evaluation/evaluate.py so bench_many.py compares it with the
same numbers. The one concession to a fair comparison: the test set is the project's stable hash split
of "<label>/<file>#<row>" (retrain/data/split.py), the same test drawings every qdretrain model is scored on.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    from common.tfcompat import keras
    from retrain.data.split import which_set
    from retrain.evaluation.evaluate import evaluate, write_evaluation
    from convert.sources import class_name
    files = sorted(f for f in os.listdir(args.data) if f.endswith(".npy"))
    labels = [class_name(f) for f in files]
    x_train, y_train, x_test, y_test, names = [], [], [], [], []
    for index, file in enumerate(files):
        rows = np.load(os.path.join(args.data, file))
        sets = np.array([which_set(f"{labels[index]}/{file}#{row}", 10, 10) for row in range(len(rows))])
        x_train.append(rows[sets == "training"])
        y_train += [index] * int((sets == "training").sum())
        x_test.append(rows[sets == "testing"])
        y_test += [index] * int((sets == "testing").sum())
        names += [f"{labels[index]}/{file}#{row}" for row in np.flatnonzero(sets == "testing")]
    x_train = np.concatenate(x_train).reshape(-1, 28, 28, 1).astype(np.float32) / 255
    x_test = np.concatenate(x_test).reshape(-1, 28, 28, 1).astype(np.float32) / 255
    model = keras.Sequential([
        keras.layers.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(len(labels), activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.time()
    model.fit(x_train, np.array(y_train), epochs=args.epochs, batch_size=100, shuffle=True, verbose=2)
    print(f"trained in {time.time() - start:.0f} s")
    result = evaluate(model.predict(x_test, batch_size=1000, verbose=0), np.array(y_test), labels, names)
    os.makedirs(args.out, exist_ok=True)
    write_evaluation(result, args.out)
    print(f"macro {result.macro_top1:.4f} micro {result.top1:.4f} map3 {result.map3:.4f}")


if __name__ == "__main__":
    main()
