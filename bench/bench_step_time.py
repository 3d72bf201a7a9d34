"""Training-step time of native net designs, side by side in one process (equal-time comparisons).

Each design is built in the native frame (nets.frame: DrawingInput -> body -> average pooling ->
FC 256 -> dropout -> logits), compiled as one tf.function training step on a batch of 100 random 28-px
drawings, warmed up, then timed in interleaved rounds so that other jobs on the machine slow every
design alike. Prints the median ms a step and the ratio to the first design.

    .venv/bin/python bench/bench_step_time.py
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
    "1 conv a block, 64/128/256 (last round)": nets._cnn_body((64, 128, 256)),
    "2 convs a block, 32/64/128 (quickdraw_cnn)": nets._cnn_body((32, 64, 128), convs=2),
    "1 conv a block, 64/128/256 + SE": nets._cnn_body((64, 128, 256), se=True),
    "2 convs a block, 32/64/128 + SE": nets._cnn_body((32, 64, 128), convs=2, se=True),
    "2 convs a block, 48/96/192": nets._cnn_body((48, 96, 192), convs=2),
}


def _model(body, classes: int = 69):
    return nets.frame(nets.Design(body, fc=256), classes, size=28)


def main(rounds: int = 6, steps: int = 10) -> None:
    x = tf.random.uniform((100, 28, 28, 3), -1, 1, seed=0)
    y = tf.random.uniform((100,), 0, 69, tf.int32, seed=0)
    compiled = {}
    for name, body in DESIGNS.items():
        model, optimizer = _model(body), keras.optimizers.Adam(1e-3)

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
    main()
