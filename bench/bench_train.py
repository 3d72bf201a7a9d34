"""Head-training speed: qdretrain's tf.data + model.fit on cached features vs a retrain.py-style loop.

retrain.py fed every step from Python: pick a batch of cached bottlenecks in NumPy, then run one
training step with them (feed_dict). qdretrain keeps the features in a tf.data pipeline and lets
`model.fit` run the steps. Both train the same head (Dense on 1024-d MobileNet features, 13 classes) for
the same steps and batch, measured side by side in one run. Features are random with the real shapes:
speed does not depend on their values.

    .venv/bin/python bench/bench_train.py [--steps 4000] [--batch 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from retrain.families.hub_head import model as model_lib  # noqa: E402
from retrain.families.hub_head import train  # noqa: E402
from common.tfcompat import keras, tf  # noqa: E402


def python_fed_loop(x, y, classes, steps, batch, lr):
    """retrain.py's loop: every step a NumPy batch handed to one training step."""
    head = model_lib.build_head(x.shape[1], classes)
    optimizer = keras.optimizers.SGD(lr)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(features, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, head(features, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, head.trainable_variables),
                                      head.trainable_variables))
        return loss

    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(steps):
        chosen = rng.integers(0, len(x), batch)
        step(x[chosen], y[chosen])
    return time.perf_counter() - started


def qdretrain_fit(x, y, classes, steps, batch, lr, eval_interval):
    params = train.TrainingParams(steps=steps, eval_interval=eval_interval, batch_size=batch,
                                  validation_batch_size=100, learning_rate=lr)
    head = model_lib.build_head(x.shape[1], classes)
    train.compile_for_training(head, params, from_logits=True)
    train_ds, next_validation = train.feature_datasets(x, y, x[:500], y[:500], classes, params)
    result = train.fit(head, train_ds, next_validation, params, backup_dir=None, extra_callbacks=[],
                       echo=lambda line: None)
    return result.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--images", type=int, default=30000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    classes = 13
    x = rng.random((args.images, 1024), dtype=np.float32)
    y = rng.integers(0, classes, args.images)
    print(f"Head training: {args.steps} steps of batch {args.batch}, 1024 features, {classes} classes, "
          f"{args.images} cached images, {os.cpu_count()} CPU cores")
    python_seconds = python_fed_loop(x, y, classes, args.steps, args.batch, 0.01)
    fit_100 = qdretrain_fit(x, y, classes, args.steps, args.batch, 0.01, eval_interval=100)
    fit_10 = qdretrain_fit(x, y, classes, args.steps, args.batch, 0.01, eval_interval=10)
    print(f"{'method':58s} {'seconds':>8s} {'steps/s':>9s}")
    for name, seconds in (("retrain.py-style loop (NumPy batch fed each step)", python_seconds),
                          ("qdretrain fit, validating every 100 steps", fit_100),
                          ("qdretrain fit, validating every 10 steps (retrain.py default)", fit_10)):
        print(f"{name:58s} {seconds:8.2f} {args.steps / seconds:9.0f}")
    print(f"ratio qdretrain(every 100) / python-fed: {python_seconds / fit_100:.2f}x faster")
    print(f"ratio qdretrain(every 10)  / python-fed: {python_seconds / fit_10:.2f}x faster")


if __name__ == "__main__":
    main()
