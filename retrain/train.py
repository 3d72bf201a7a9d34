"""Training: the new head on cached bottlenecks, or the whole network (--fine_tune) on images.

Both use tf_keras `model.fit`, which runs unchanged under every tf.distribute strategy (one device,
MirroredStrategy, MultiWorkerMirroredStrategy). One Keras *epoch* is `eval_step_interval` steps, so
"evaluate every N steps" is Keras' per-epoch validation, and BackupAndRestore (which backs up at epoch
ends) never loses more than one evaluation interval of work when a worker dies.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Callable, Optional

import numpy as np

from retrain.tfcompat import keras, tf


@dataclasses.dataclass(frozen=True)
class TrainingParams:
    """What the training loop needs from the run's config (explicit, so this module never sees flags).

    Attributes:
      steps: total training steps (batches).
      eval_interval: steps between validations; one Keras epoch.
      batch_size: global batch size (all replicas together).
      validation_batch_size: validation images per evaluation; -1 = all.
      learning_rate: already scaled for the number of replicas.
      optimizer: sgd | momentum | adam | rmsprop.
      label_smoothing: for the cross-entropy loss.
      class_weights: "none" | "balanced".
      seed: shuffling seed.
    """

    steps: int
    eval_interval: int
    batch_size: int
    validation_batch_size: int
    learning_rate: float
    optimizer: str = "sgd"
    label_smoothing: float = 0.0
    class_weights: str = "none"
    seed: int = 0

    @property
    def epochs(self) -> int:
        return max(1, math.ceil(self.steps / self.eval_interval))


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """History of a run: per evaluation, the step reached and Keras' metrics (loss, accuracy, val_*)."""

    steps: list
    history: dict
    seconds: float
    resumed_from_epoch: int


def make_optimizer(name: str, learning_rate: float):
    """The optimizer for `--optimizer`. sgd is retrain.py's plain gradient descent."""
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    raise ValueError(f"unknown optimizer {name}")


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """n / (C * count_c): each class contributes equally to the loss whatever its size."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    total = counts.sum()
    return {c: float(total / (num_classes * counts[c])) if counts[c] else 0.0 for c in range(num_classes)}


def _distributed_options() -> tf.data.Options:
    # In-memory data cannot be sharded by file; shard by element so each worker sees its own part.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def feature_datasets(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                     num_classes: int, params: TrainingParams):
    """tf.data pipelines over cached features: shuffled repeating training batches; validation batches."""
    def one_hot(x, y):
        return x, tf.one_hot(y, num_classes)

    train = (tf.data.Dataset.from_tensor_slices((x_train, y_train.astype(np.int32)))
             .shuffle(min(len(x_train), 50_000), seed=params.seed, reshuffle_each_iteration=True)
             .repeat().batch(params.batch_size, drop_remainder=True).map(one_hot)
             .prefetch(tf.data.AUTOTUNE).with_options(_distributed_options()))
    val = None
    if len(x_val):
        val_batch = len(x_val) if params.validation_batch_size < 0 else min(params.validation_batch_size,
                                                                            len(x_val))
        val = (tf.data.Dataset.from_tensor_slices((x_val, y_val.astype(np.int32)))
               .shuffle(len(x_val), seed=params.seed + 1).repeat().batch(val_batch).map(one_hot)
               .prefetch(tf.data.AUTOTUNE).with_options(_distributed_options()))
    return train, val


class _StepLogger(keras.callbacks.Callback):
    """retrain.py-style lines: `Step 120: train accuracy = 87.0%, cross entropy = 0.41, validation ...`."""

    def __init__(self, params: TrainingParams, echo: Callable[[str], None], total_epochs: int):
        super().__init__()
        self._params = params
        self._echo = echo
        self._total_epochs = total_epochs
        self._started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        step = min((epoch + 1) * self._params.eval_interval, self._params.steps)
        # Log about 20 lines per run, plus the last step.
        every = max(1, self._total_epochs // 20)
        if (epoch + 1) % every and epoch + 1 != self._total_epochs:
            return
        line = (f"Step {step}/{self._params.steps}: train accuracy = {100 * logs.get('accuracy', 0):.1f}%, "
                f"cross entropy = {logs.get('loss', float('nan')):.4f}")
        if "val_accuracy" in logs:
            line += f", validation accuracy = {100 * logs['val_accuracy']:.1f}%"
        line += f" ({time.monotonic() - self._started:.1f} s)"
        self._echo(line)


class _ResumeDetector(keras.callbacks.Callback):
    """Records the epoch fit starts at: > 0 means BackupAndRestore restored a backup."""

    def __init__(self):
        super().__init__()
        self.first_epoch: Optional[int] = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch


def fit(model: keras.Model, train_ds, val_ds, params: TrainingParams, backup_dir: Optional[str],
        extra_callbacks: list, echo: Callable[[str], None], class_weight: Optional[dict] = None,
        validation_steps: int = 1) -> TrainingResult:
    """Runs `model.fit` for params.steps steps, validating every params.eval_interval steps.

    Args:
      model: compiled model (created and compiled inside the strategy's scope).
      train_ds, val_ds: datasets from `feature_datasets` (or the image pipeline for fine-tuning).
      backup_dir: BackupAndRestore folder; a run restarted after a crash resumes from it.
      extra_callbacks: TensorBoard, intermediate graphs, ...
      echo: where progress lines go.
      class_weight: Keras class weights or None.
    """
    epochs = params.epochs
    # The last epoch may be shorter so the total is exactly params.steps: Keras has no per-epoch
    # step count, so round steps up to whole intervals and say so.
    detector = _ResumeDetector()
    callbacks = [detector, _StepLogger(params, echo, epochs), *extra_callbacks]
    if backup_dir:
        # save_freq="epoch": one backup per evaluation interval.
        callbacks.insert(0, keras.callbacks.BackupAndRestore(backup_dir=backup_dir,
                                                             delete_checkpoint=True))
    started = time.monotonic()
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=params.eval_interval,
                        validation_data=val_ds, validation_steps=validation_steps if val_ds else None,
                        callbacks=callbacks, class_weight=class_weight, verbose=0)
    seconds = time.monotonic() - started
    first = detector.first_epoch or 0
    steps = [min((first + i + 1) * params.eval_interval, params.steps)
             for i in range(len(history.history.get("loss", [])))]
    return TrainingResult(steps=steps, history={k: [float(v) for v in vals]
                                                for k, vals in history.history.items()},
                          seconds=seconds, resumed_from_epoch=first)


def compile_for_training(model: keras.Model, params: TrainingParams, from_logits: bool) -> None:
    """Compiles with the chosen optimizer, (smoothed) categorical cross-entropy and accuracy metrics."""
    model.compile(
        optimizer=make_optimizer(params.optimizer, params.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(from_logits=from_logits,
                                                  label_smoothing=params.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"),
                 keras.metrics.TopKCategoricalAccuracy(k=5, name="top5")])


def backup_dir_for(checkpoint_dir: str) -> str:
    return os.path.join(checkpoint_dir, "backup")


class IntermediateGraphs(keras.callbacks.Callback):
    """--intermediate_store_frequency: every N steps, `write(step)` saves a frozen graph."""

    def __init__(self, every_steps: int, eval_interval: int, write: Callable[[int], None]):
        super().__init__()
        self._every = every_steps
        self._interval = eval_interval
        self._write = write
        self._last = 0

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self._interval
        if step // self._every > self._last // self._every:
            self._write(step)
        self._last = step
