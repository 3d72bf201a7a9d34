"""Training-step time of native net designs, side by side in one process (equal-time comparisons).

Each design is built in the native frame (nets.frame: DrawingInput -> body -> average pooling ->
FC -> dropout -> logits), compiled as one tf.function training step on a batch of 100 random 28-px
drawings, warmed up, then timed in interleaved rounds so that other jobs on the machine slow every
design alike. Prints the median ms a step and the ratio to the first design.

    .venv/bin/python bench/bench_step_time.py
    .venv/bin/python bench/bench_step_time.py --only small    # the quickdraw_cnn_small candidates
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.tfcompat import keras, tf  # noqa: E402
from retrain.families.native import nets  # noqa: E402


DESIGNS = {
    "1 conv a block, 64/128/256 (last round)": nets.Design(nets._cnn_body((64, 128, 256)), 256),
    "2 convs a block, 32/64/128 (quickdraw_cnn)": nets.Design(nets._cnn_body((32, 64, 128), convs=2), 256),
    "1 conv a block, 64/128/256 + SE": nets.Design(nets._cnn_body((64, 128, 256), se=True), 256),
    "2 convs a block, 32/64/128 + SE": nets.Design(nets._cnn_body((32, 64, 128), convs=2, se=True), 256),
    "2 convs a block, 48/96/192": nets.Design(nets._cnn_body((48, 96, 192), convs=2), 256),
    "small: 1 conv a block, 24/48/96, FC 96": nets.Design(nets._cnn_body((24, 48, 96)), 96),
    "small: 2 convs a block, 16/32/64, FC 96": nets.Design(nets._cnn_body((16, 32, 64), convs=2), 96),
    "small: 2 convs a block, 16/32/64, FC 64": nets.Design(nets._cnn_body((16, 32, 64), convs=2), 64),
}


def _model(design, classes: int = 69):
    return nets.frame(design, classes, size=28)


def main(only: str = "", rounds: int = 6, steps: int = 10) -> None:
    """Times the DESIGNS whose name contains `only` (all when empty); ratios are to the first of them."""
    x = tf.random.uniform((100, 28, 28, 3), -1, 1, seed=0)
    y = tf.random.uniform((100,), 0, 69, tf.int32, seed=0)
    compiled = {}
    for name, design in DESIGNS.items():
        if only not in name:
            continue
        model, optimizer = _model(design), keras.optimizers.Adam(1e-3)

        @tf.function
        def step(x, y, model=model, optimizer=optimizer):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        for _ in range(5):
            step(x, y)
        compiled[name] = (step, model.count_params())
    times = {name: [] for name in compiled}
    for _ in range(rounds):  # interleaved: a slow moment hits every design
        for name, (step, _) in compiled.items():
            started = time.perf_counter()
            for _ in range(steps):
                step(x, y)
            times[name].append((time.perf_counter() - started) / steps)
    first = float(np.median(next(iter(times.values()))))
    for name, values in times.items():
        median = float(np.median(values))
        print(f"{name:45s} {compiled[name][1]:>8,d} params {1000 * median:7.1f} ms/step  {median / first:.2f}x")


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help='time the designs whose name contains this (e.g. "small")')
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    main(args.only, args.rounds)
