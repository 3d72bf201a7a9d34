"""Test-only worker: trains a tiny softmax head on synthetic features with retrain.distribution.strategy.

Run by the multi-worker tests through `retrain.distribution.launch.launch_local_workers` (or alone, without
TF_CONFIG, as the one-worker reference). It exercises what the real pipeline relies on: the strategy
created first, global batch and sharded data, BackupAndRestore, every worker saving (non-chief into a
temporary folder that is removed), and a crash hook that kills one worker after an epoch's backup.

Writes <results>/weights_worker<i>.npz (kernel, bias, loss) for the test to compare, and the chief's
SavedModel into <out>/saved_model.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from retrain.distribution import strategy as distribute  # noqa: E402  (no TensorFlow import at module level)

FEATURES, CLASSES, EXAMPLES = 16, 4, 256


def synthetic_features(seed: int = 0):
    """Class-dependent Gaussian blobs: learnable, but not instantly."""
    import numpy as np
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.0, size=(CLASSES, FEATURES)).astype("float32")
    labels = np.arange(EXAMPLES) % CLASSES
    features = centres[labels] + rng.normal(0, 1.0, size=(EXAMPLES, FEATURES)).astype("float32")
    return features, np.eye(CLASSES, dtype="float32")[labels]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="the chief's real output folder")
    parser.add_argument("--results", required=True, help="where every worker writes its final weights")
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--per_replica_batch", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=0.1, help="for one replica; scaled linearly")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--crash_worker", type=int, default=-1)
    parser.add_argument("--crash_after_epoch", type=int, default=-1, help="0-based epoch")
    parser.add_argument("--crash_marker", default="", help="crash only while this file is absent")
    args = parser.parse_args()

    strategy = distribute.create_strategy(args.strategy)  # first TensorFlow op of the process
    info = distribute.worker_info(strategy)
    from common.tfcompat import keras, tf
    import numpy as np

    replicas = strategy.num_replicas_in_sync
    batch = distribute.global_batch_size(args.per_replica_batch, replicas)
    learning_rate = distribute.scaled_learning_rate(args.learning_rate, replicas)
    # One epoch is exactly one pass with no shuffling, so a resumed run sees the same batches as an
    # uninterrupted one and must reach the same weights.
    steps_per_epoch = EXAMPLES // batch
    print(f"worker {info.task_id}/{info.num_workers} chief={info.is_chief} replicas={replicas} "
          f"global_batch={batch} lr={learning_rate:g}", flush=True)

    features, labels = synthetic_features()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = (tf.data.Dataset.from_tensor_slices((features, labels)).repeat().batch(batch)
               .with_options(options))

    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input(shape=(FEATURES,)),
                                  keras.layers.Dense(CLASSES, name="logits")])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate),
                      loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])

    class Log(keras.callbacks.Callback):
        first = None

        def on_epoch_begin(self, epoch, logs=None):
            if self.first is None:
                self.first = epoch
                if epoch > 0:
                    print(f"resumed from backup at epoch {epoch}", flush=True)

        def on_epoch_end(self, epoch, logs=None):
            print(f"epoch {epoch} loss {logs['loss']:.6f}", flush=True)
            if (info.task_id == args.crash_worker and epoch == args.crash_after_epoch
                    and not os.path.exists(args.crash_marker)):
                open(args.crash_marker, "w").close()
                print(f"worker {info.task_id} crashing on purpose after epoch {epoch}", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    checkpoint_dir = os.path.join(args.out, "checkpoints")
    worker_dir = distribute.output_dir_for_worker(args.out, info)
    print(f"worker dir {worker_dir}", flush=True)
    try:
        history = model.fit(dataset, epochs=args.epochs, steps_per_epoch=steps_per_epoch, verbose=0,
                            callbacks=[keras.callbacks.BackupAndRestore(os.path.join(checkpoint_dir,
                                                                                     "backup")),
                                       Log()])
        model.save(os.path.join(worker_dir, "saved_model"))  # every worker saves; only the chief's stays
        kernel, bias = (w.numpy() for w in model.layers[-1].weights)
        os.makedirs(args.results, exist_ok=True)
        np.savez(os.path.join(args.results, f"weights_worker{info.task_id}.npz"), kernel=kernel, bias=bias,
                 loss=history.history["loss"][-1])
    finally:
        distribute.cleanup_worker_dir(worker_dir, info)
    print("done", flush=True)


if __name__ == "__main__":
    main()
