"""Training-step time of native net designs, side by side in one process (equal-time comparisons).

Each design is built in the native frame (DrawingInput -> body -> average pooling -> FC 256 ->
dropout -> logits), compiled as one tf.function training step on a batch of 100 random 28-px
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
from retrain.model_folder import native_layers as layers  # noqa: E402


def _with_se(widths: tuple, convs: int):
    """The VGG-style body with squeeze-excitation after each block's convolutions (tried, not kept)."""
    def body(x):
        for i, width in enumerate(widths):
            for j in range(convs):
                x = nets._conv_bn(x, width, 3, f"b{i}_{j}")
            x = nets._squeeze_excite(x, width, f"b{i}")
            x = keras.layers.MaxPooling2D(2)(x)
        return x
    return body


DESIGNS = {
    "1 conv a block, 64/128/256 (last round)": nets._cnn_body((64, 128, 256)),
    "2 convs a block, 32/64/128 (quickdraw_cnn)": nets._cnn_body((32, 64, 128), convs=2),
    "1 conv a block, 64/128/256 + SE": _with_se((64, 128, 256), 1),
    "2 convs a block, 32/64/128 + SE": _with_se((32, 64, 128), 2),
    "2 convs a block, 48/96/192": nets._cnn_body((48, 96, 192), convs=2),
}


def _model(body, classes: int = 69):
    image = keras.Input(shape=(28, 28, 3))
    x = keras.layers.GlobalAveragePooling2D()(body(layers.DrawingInput(1)(image)))
    x = keras.layers.Dropout(0.3)(keras.layers.ReLU()(keras.layers.Dense(256)(x)))
    return keras.Model(image, keras.layers.Softmax()(keras.layers.Dense(classes)(x)))


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
