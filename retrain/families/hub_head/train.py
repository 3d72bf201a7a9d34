"""Training: the new head on cached bottlenecks, or the whole network (--fine_tune) on images.

Both use tf_keras `model.fit`, which runs unchanged under every tf.distribute strategy (one device,
MirroredStrategy, MultiWorkerMirroredStrategy). Steps run `eval_step_interval` at a time in one
tf.function call (steps_per_execution); after each such call a validation batch is scored, as
retrain.py did every `--eval_step_interval` steps. A Keras *epoch* is a larger block of steps
(`epoch_steps_for`): the unit BackupAndRestore backs up, so a worker that dies and restarts resumes
from the last block instead of starting over.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Callable, Optional

import numpy as np

from common.tfcompat import keras, tf


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



@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """History of a run: per evaluation, the step reached and Keras' metrics (loss, accuracy, val_*)."""

    steps: list
    history: dict
    seconds: float
    resumed_from_epoch: int
    epoch_steps: int = 0


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


def distributed_options() -> tf.data.Options:
    # Cached features (an array, or a generator over part files) cannot be sharded by file; shard by
    # element so each worker sees its own part.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def feature_datasets(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                     num_classes: int, params: TrainingParams):
    """tf.data pipelines over cached features: shuffled repeating training batches; validation batches."""
    return (feature_training_dataset(x_train, y_train, num_classes, params),
            feature_validation_batches(x_val, y_val, num_classes, params))


SHUFFLE_WHOLE = 50_000  # features the in-memory training shuffle holds (the whole split below it)


def feature_training_dataset(x_train: np.ndarray, y_train: np.ndarray, num_classes: int,
                             params: TrainingParams):
    """Shuffled, repeating (features, one-hot) training batches from features held in memory."""
    def one_hot(x, y):
        return x, tf.one_hot(y, num_classes)

    if len(x_train) > SHUFFLE_WHOLE:
        # The buffer no longer holds the whole (class-sorted) split: order it so each class is spread
        # evenly (retrain/data/sampling.py), or the buffer would walk the classes one after another.
        from retrain.data.sampling import spread_order
        order = spread_order(y_train, params.seed, 0)
        x_train, y_train = x_train[order], y_train[order]
    return (tf.data.Dataset.from_tensor_slices((x_train, y_train.astype(np.int32)))
            .shuffle(min(len(x_train), SHUFFLE_WHOLE), seed=params.seed, reshuffle_each_iteration=True)
            .repeat().batch(params.batch_size, drop_remainder=True).map(one_hot)
            .prefetch(tf.data.AUTOTUNE).with_options(distributed_options()))


def feature_validation_batches(x_val: np.ndarray, y_val: np.ndarray, num_classes: int,
                               params: TrainingParams) -> Optional[Callable]:
    """retrain.py's validation: each evaluation, a fresh random batch (or all of the validation set)."""
    if not len(x_val):
        return None
    rng = np.random.default_rng(params.seed + 1)
    one_hot = np.eye(num_classes, dtype=np.float32)

    def next_batch():
        if params.validation_batch_size < 0 or params.validation_batch_size >= len(x_val):
            return [(x_val, one_hot[y_val])]
        chosen = rng.choice(len(x_val), params.validation_batch_size, replace=False)
        return [(x_val[chosen], one_hot[y_val[chosen]])]
    return next_batch


def dataset_validation_batches(val_ds) -> Callable:
    """Validation batches from a (repeating) tf.data pipeline, e.g. decoded images for fine-tuning."""
    iterator = iter(val_ds)
    return lambda: [next(iterator)]


class _Evaluator(keras.callbacks.Callback):
    """Every eval_interval steps: validation accuracy on a validation batch, a retrain.py-style line
    (`Step 120/4000: train accuracy = 87.0%, cross entropy = 0.41, validation accuracy = 85.0%`), the
    history for the curves, and TensorBoard scalars per step.

    It runs in on_train_batch_end: with steps_per_execution = eval_interval, Keras calls it once per
    interval, so evaluating costs one forward pass of one batch, not a Keras evaluate() per interval.
    """

    def __init__(self, params: TrainingParams, echo: Callable[[str], None], epoch_steps: int,
                 next_validation_batch: Optional[Callable], summary_dir: Optional[str]):
        super().__init__()
        self._params = params
        self._echo = echo
        self._epoch_steps = epoch_steps
        self._next = next_validation_batch
        self._writer = tf.summary.create_file_writer(summary_dir) if summary_dir else None
        self._started = time.monotonic()
        self._epoch = 0
        self._totals: dict[str, tuple[int, float]] = {}
        self.steps: list[int] = []
        self.history: dict[str, list[float]] = {}
        self._evaluations = max(1, math.ceil(params.steps / params.eval_interval))

    def on_train_begin(self, logs=None):
        # One traced forward pass, reused every evaluation: an eager Keras call costs milliseconds.
        model = self.model
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._totals = {}  # metric -> (batches seen this epoch, running mean Keras reported)

    def _interval_mean(self, key: str, running: float, seen: int) -> float:
        """The metric over the last interval alone. Keras reports a running mean that restarts every
        epoch, which plotted against steps looks like a sawtooth; this undoes the running mean."""
        before_seen, before_mean = self._totals.get(key, (0, 0.0))
        self._totals[key] = (seen, running)
        if seen <= before_seen or not math.isfinite(running):
            return running
        return (running * seen - before_mean * before_seen) / (seen - before_seen)

    def _record(self, key: str, value: float) -> None:
        self.history.setdefault(key, []).append(float(value))

    def on_train_batch_end(self, batch, logs=None):
        logs = dict(logs or {})
        step = min(self._epoch * self._epoch_steps + batch + 1, self._params.steps)
        self.steps.append(step)
        for key in ("accuracy", "loss"):
            if key in logs:
                logs[key] = self._interval_mean(key, float(logs[key]), batch + 1)
        self._record("accuracy", logs.get("accuracy", float("nan")))
        self._record("loss", logs.get("loss", float("nan")))
        line = (f"Step {step}/{self._params.steps}: train accuracy = {100 * logs.get('accuracy', 0):.1f}%, "
                f"cross entropy = {logs.get('loss', float('nan')):.4f}")
        scalars = {"train_accuracy": logs.get("accuracy", 0.0), "cross_entropy": logs.get("loss", 0.0)}
        if self._next is not None:
            accuracy, loss, count = self._validate(self._next())
            self._record("val_accuracy", accuracy)
            self._record("val_loss", loss)
            scalars.update(validation_accuracy=accuracy, validation_cross_entropy=loss)
            line += f", validation accuracy = {100 * accuracy:.1f}% (N={count})"
        if self._writer is not None:
            with self._writer.as_default(step=step):
                for name, value in scalars.items():
                    tf.summary.scalar(name, value)
        # About 20 lines a run, plus the last step.
        every = max(1, self._evaluations // 20)
        index = math.ceil(step / self._params.eval_interval)
        if index % every == 0 or step == self._params.steps:
            self._echo(line + f" ({time.monotonic() - self._started:.1f} s)")
        if step >= self._params.steps:
            # Epochs are whole blocks; stop at exactly --how_many_training_steps (rounded up to a whole
            # eval interval, the unit steps run in).
            self.model.stop_training = True


    def _validate(self, batches) -> tuple[float, float, int]:
        """(accuracy, cross-entropy, images) over one evaluation's batches (a whole streamed
        validation split comes in several, so it never has to fit in memory at once)."""
        correct, total_loss, count = 0, 0.0, 0
        for x, y in batches:
            out = self._forward(x)
            probs = (tf.nn.softmax(out) if _outputs_logits(self.model) else out).numpy()
            y = np.asarray(y)
            total_loss += float(-np.sum(y * np.log(np.clip(probs, 1e-7, 1.0))))
            correct += int(np.sum(np.argmax(probs, -1) == np.argmax(y, -1)))
            count += len(y)
        return correct / max(1, count), total_loss / max(1, count), count


def _outputs_logits(model: keras.Model) -> bool:
    """The head outputs logits; the classifier ends in the `final_result` softmax."""
    return model.layers[-1].name != "final_result"


class _ResumeDetector(keras.callbacks.Callback):
    """Records the epoch fit starts at: > 0 means BackupAndRestore restored a backup."""

    def __init__(self):
        super().__init__()
        self.first_epoch: Optional[int] = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch


class _StopOnDivergence(keras.callbacks.Callback):
    """Keras' TerminateOnNaN, but as an error with advice: a NaN loss never becomes a saved model.

    Raising (instead of stop_training) ends fit before the epoch's backup is written and skips every
    output the pipeline would write after training.
    """

    def __init__(self, params: TrainingParams, epoch_steps: int):
        super().__init__()
        self._params = params
        self._epoch_steps = epoch_steps
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            from common.errors import TrainingDivergedError
            step = min(self._epoch * self._epoch_steps + batch + 1, self._params.steps)
            raise TrainingDivergedError(
                f"Training diverged at step {step}: the loss became {float(loss)}. No model was written. "
                f"Lower the learning rate (--learning_rate, or --fine_tune_learning_rate while "
                f"fine-tuning; this phase used {self._params.learning_rate:g}), e.g. to a tenth.")


def epoch_steps_for(params: TrainingParams) -> int:
    """Steps per Keras epoch: a multiple of eval_interval, at least ~1/20 of the run and 100 steps.

    An epoch is the unit BackupAndRestore backs up and TensorBoard's epoch logs use. Backing up every
    10 steps (retrain.py's eval interval) would spend more time writing checkpoints than training;
    20 backups a run lose at most 5% of the work to a crash.
    """
    target = max(100, math.ceil(params.steps / 20))
    return min(params.eval_interval * max(1, math.ceil(target / params.eval_interval)),
               params.eval_interval * max(1, math.ceil(params.steps / params.eval_interval)))


def fit(model: keras.Model, train_ds, next_validation_batch: Optional[Callable], params: TrainingParams,
        backup_dir: Optional[str], extra_callbacks: list, echo: Callable[[str], None],
        class_weight: Optional[dict] = None, summary_dir: Optional[str] = None) -> TrainingResult:
    """Runs `model.fit` for params.steps steps (rounded up to a whole eval interval, the unit steps
    run in), validating every params.eval_interval steps.

    Args:
      model: compiled model (created and compiled inside the strategy's scope, with
        `compile_for_training`, whose steps_per_execution is the eval interval).
      train_ds: repeating training batches (`feature_datasets`, or images for fine-tuning).
      next_validation_batch: returns one evaluation's (x, one-hot y) batches (a list or an iterator),
        or None for no validation.
      backup_dir: BackupAndRestore folder; a run restarted after a crash resumes from it.
      extra_callbacks: TensorBoard, intermediate graphs, ...
      echo: where progress lines go.
      class_weight: Keras class weights or None.
      summary_dir: where per-evaluation TensorBoard scalars go (None: nowhere).
    """
    epoch_steps = epoch_steps_for(params)
    epochs = max(1, math.ceil(params.steps / epoch_steps))
    detector = _ResumeDetector()
    evaluator = _Evaluator(params, echo, epoch_steps, next_validation_batch, summary_dir)
    # The divergence check first: the evaluator would otherwise log a NaN line before it stops.
    callbacks = [_StopOnDivergence(params, epoch_steps), detector, evaluator, *extra_callbacks]
    if backup_dir:
        callbacks.insert(0, keras.callbacks.BackupAndRestore(backup_dir=backup_dir, save_freq="epoch",
                                                             delete_checkpoint=True))
    started = time.monotonic()
    model.fit(train_ds, epochs=epochs, steps_per_epoch=epoch_steps, callbacks=callbacks,
              class_weight=class_weight, verbose=0)
    seconds = time.monotonic() - started
    first = detector.first_epoch or 0
    return TrainingResult(steps=evaluator.steps, history=evaluator.history, seconds=seconds,
                          resumed_from_epoch=first, epoch_steps=epoch_steps)


def compile_for_training(model: keras.Model, params: TrainingParams, from_logits: bool) -> None:
    """Compiles with the chosen optimizer, (smoothed) categorical cross-entropy and accuracy metrics.

    steps_per_execution runs a whole evaluation interval in one tf.function call: on a small head the
    per-call Python overhead, not the math, is what limits the step rate.
    """
    model.compile(
        steps_per_execution=params.eval_interval,
        optimizer=make_optimizer(params.optimizer, params.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(from_logits=from_logits,
                                                  label_smoothing=params.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"),
                 keras.metrics.TopKCategoricalAccuracy(k=5, name="top5")])
    # Metrics are already global (synced across workers); tf_keras' default "auto" reduction would sum
    # the per-batch logs over replicas under MultiWorkerMirroredStrategy (2 workers: "104% accuracy").
    model.distribute_reduction_method = "first"


def backup_dir_for(checkpoint_dir: str) -> str:
    return os.path.join(checkpoint_dir, "backup")


class IntermediateGraphs(keras.callbacks.Callback):
    """--intermediate_store_frequency: every N steps, `write(step)` saves a frozen graph.

    Checked once per eval interval (steps_per_execution), so N is rounded up to a whole interval.
    """

    def __init__(self, every_steps: int, epoch_steps: int, total_steps: int, write: Callable[[int], None]):
        super().__init__()
        self._total = total_steps
        self._every = every_steps
        self._epoch_steps = epoch_steps
        self._write = write
        self._epoch = 0
        self._last = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = min(self._epoch * self._epoch_steps + batch + 1, self._total)
        if step // self._every > self._last // self._every:
            self._write(step)
        self._last = step


def training_params(config, num_replicas: int, learning_rate: float) -> "TrainingParams":
    """The head's TrainingParams from the run's TrainConfig, scaled for `num_replicas`."""
    from retrain.distribution import strategy as distribute
    return TrainingParams(
        steps=config.how_many_training_steps, eval_interval=config.eval_step_interval,
        batch_size=distribute.global_batch_size(config.train_batch_size, num_replicas),
        validation_batch_size=config.validation_batch_size,
        learning_rate=distribute.scaled_learning_rate(learning_rate, num_replicas),
        optimizer=config.optimizer, label_smoothing=config.label_smoothing,
        class_weights=config.class_weights, seed=config.seed)


def summary_callbacks(run_dir: str) -> list:
    from common.tfcompat import keras
    return [keras.callbacks.TensorBoard(log_dir=run_dir, write_graph=False)]


def schedule_of(params) -> dict:
    """The schedule part of a backup's run signature (retrain/families/backups.run_signature)."""
    return {"steps": params.steps, "eval_interval": params.eval_interval, "batch_size": params.batch_size,
            "learning_rate": params.learning_rate, "optimizer": params.optimizer}
