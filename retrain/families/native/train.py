"""Training a native net end to end from random initialisation on streamed drawings.

The story of a run (`run`): strategy -> data (data.py's `NativeData`: stream.py for QuickDraw files,
image_stream.py for --image_dir; the stable hash split, sharded per worker) ->
model (nets.py) in the strategy's scope -> compile (optimizer, schedule, label smoothing, weight
decay, mixed precision) -> fit with BackupAndRestore, checkpoints and TensorBoard -> evaluate on the
test stream (top-1, top-5, per class, MAP@3) -> the same outputs as the TF-Hub family (frozen graph
`input` -> `final_result`, labels, SavedModel, model_info.json), so `qdretrain export` / `android`
work unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional

import numpy as np

from common.errors import ConfigError, DatasetError
from retrain.families.native.augment import AugmentConfig

# The options live in native_config.py (no TensorFlow, so `--help` and the Python API's option
# table can read their defaults); re-exported here for the callers that import them from train.
from retrain.families.native.native_config import BLOCK_STEPS, NATIVE_OPTIMIZERS, NOT_APPLICABLE, NativeConfig  # noqa: E402,F401


def check_applicable(config, given: set) -> None:
    """Refuses TF-Hub-family options given for a native architecture.

    Args:
      config: the TrainConfig.
      given: names of options the user set explicitly.

    Raises:
      ConfigError: one of NOT_APPLICABLE was given, or the optimizer is not available.
    """
    wrong = [name for name in NOT_APPLICABLE if name in given]
    if config.fine_tune:
        wrong.append("fine_tune")
    if wrong:
        names = ", ".join(f"--{n}" for n in sorted(set(wrong)))
        raise ConfigError(f"{names} do(es) not apply to --architecture {config.architecture}: it is a "
                          f"native net trained end to end from random initialisation (no TF-Hub module, "
                          f"no bottleneck cache, no separate fine-tuning phase). Drop them, or pick a "
                          f"TF-Hub architecture (`qdretrain architectures`).")


def make_optimizer(name: str, schedule, weight_decay: float):
    from common.tfcompat import keras
    decay = {"weight_decay": weight_decay} if weight_decay else {}
    if name in ("adam", "adamw"):
        return (keras.optimizers.AdamW if name == "adamw" else keras.optimizers.Adam)(
            learning_rate=schedule, **({"weight_decay": weight_decay or 0.004} if name == "adamw" else decay))
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=schedule, **decay)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True, **decay)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=schedule, **decay)
    raise ConfigError(f"--optimizer must be one of {', '.join(NATIVE_OPTIMIZERS)} for native nets.")


def set_mixed_precision(enabled: bool) -> None:
    """float16 compute on GPUs; refused on CPU, where it is slower and tf_keras emulates it.

    Raises:
      ConfigError: asked for on a machine without a GPU.
    """
    from common.tfcompat import keras, tf
    if not enabled:
        return
    if not tf.config.list_physical_devices("GPU"):
        raise ConfigError("--mixed_precision needs a GPU (none is visible to TensorFlow); on CPU it is "
                          "slower than float32. Drop the flag.")
    keras.mixed_precision.set_global_policy("mixed_float16")


def _batches(ds, batch_size: int, size: int, num_classes: int, augment: Optional[AugmentConfig],
             teacher_weight: float = 0.0, teacher_temperature: float = 1.0, mixup: float = 0.0):
    from retrain.families.native.augment import augment as apply_augment
    from retrain.families.native.augment import ink_to_contract
    from retrain.families.native.mixup import mix
    from common.tfcompat import tf
    ds = ds.batch(batch_size)

    def prepare(ink, label, *soft):
        x = tf.cast(ink, tf.float32) / 255.0
        if augment is not None:
            x = apply_augment(x, augment)
        y = tf.one_hot(label, num_classes)
        if soft:  # distillation: the teacher's probabilities blended with the label
            from retrain.families.distilled.teacher import blend
            y = blend(soft[0], y, teacher_weight, teacher_temperature)
        x, y = mix(x, y, mixup)
        return ink_to_contract(x, size), y
    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def fit(config, native: NativeConfig, spec, data, strategy, info, echo, targets=None):
    """Builds the net in the strategy's scope and trains it on `data` (data.py's NativeData).

    Returns:
      (model, keras History, seconds).

    Args:
      targets: a teacher's (soft, offsets) on the training drawings (distillation), or None.

    Raises:
      DatasetError: no training drawings for this worker; ConfigError: options that cannot work or a
        backup of another run; TrainingDivergedError: the loss became NaN/inf.
    """
    from retrain.distribution import strategy as distribute
    from retrain.families.backups import check_backup, run_signature, weights_fingerprint
    from retrain.families.native import nets
    from retrain.families.native.schedules import NativeSchedule
    from common.tfcompat import keras, tf

    labels = data.labels
    if not data.train_count:
        raise DatasetError("No training drawings for this worker after the split; add drawings or lower "
                           "the percentages.")
    batch = distribute.global_batch_size(config.train_batch_size, strategy.num_replicas_in_sync)
    # A pass counted over every worker's drawings (not this worker's share times the workers): the
    # workers must agree on the run's length, or one finishes first and the others wait in a collective.
    steps_per_epoch = max(1, (data.all_train_count or data.train_count * info.num_workers) // batch)
    total_steps, why = native.total_steps(steps_per_epoch, config.how_many_training_steps)
    echo(f"Native {spec.name}: {len(labels)} classes, {data.train_count} training drawings (this worker), "
         f"{total_steps} steps of {batch} ({why})")
    schedule_config = native.schedule(distribute.scaled_learning_rate(
        config.learning_rate, strategy.num_replicas_in_sync), total_steps, config.learning_rate)
    augment = AugmentConfig(flip_left_right=config.flip_left_right) if config.augment else None
    teacher = {} if targets is None else {"targets": targets}
    train_ds = _batches(data.train(shuffle_buffer=native.shuffle_buffer, weighting=native.weighting,
                                   repeat=True, seed=config.seed, **teacher),
                        batch, spec.input_size, len(labels), augment,
                        native.teacher_weight, native.teacher_temperature, native.mixup)
    options = tf.data.Options()
    # Sharded by hand above (each worker reads its rows), so tf.distribute must not shard again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    train_ds = train_ds.with_options(options)
    val_ds = _batches(data.validation(), batch, spec.input_size,
                      len(labels), None).take(max(1, config.validation_batch_size * 1 // batch or 1))
    with strategy.scope():
        model = nets.build(spec.name, len(labels), native.pooling, config.dropout, config.seed)
        model.compile(optimizer=make_optimizer(config.optimizer, NativeSchedule(schedule_config),
                                               native.weight_decay),
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                      metrics=["accuracy", keras.metrics.TopKCategoricalAccuracy(5, name="top5")])
    backup = backup_dir(config)
    # The TF-Hub family's rule: only the run that made a backup resumes it (same labels, data, schedule).
    check_backup(backup, run_signature("native", f"native:{spec.name}:{weights_fingerprint(model)}", labels, data.training_names(),
                                       {"steps": total_steps, "batch_size": batch,
                                        "learning_rate": config.learning_rate, "optimizer": config.optimizer,
                                        # steps_from_data is how the length was chosen; "steps" is the length.
                                        "native": {k: v for k, v in dataclasses.asdict(native).items()
                                                   if k != "steps_from_data"}}),
                 info.is_chief, echo)
    weights = final_weights_path(config)
    if config.resume:
        if not os.path.exists(weights):
            raise ConfigError(f"--resume: no finished model at {weights}. Run once without --resume first.")
        try:
            model.load_weights(weights)
        except ValueError as error:  # another net's weights: e.g. made with --pooling avg, now gem
            raise ConfigError(f"--resume: the weights at {weights} do not fit this net ({error}). Resume "
                              f"with the options of the run that made them (its run_config.json), e.g. "
                              f"--pooling avg for a run made before GeM became the default.") from None
        echo(f"Resumed from {weights}")
    epoch_steps = min(total_steps, steps_per_epoch if native.epochs else max(1, min(total_steps, BLOCK_STEPS)))
    epochs = max(1, -(-total_steps // epoch_steps))
    run_dir = os.path.join(config.path("summaries_dir"), time.strftime("run-%Y%m%d-%H%M%S"))
    callbacks = [keras.callbacks.BackupAndRestore(backup),
                 keras.callbacks.TensorBoard(log_dir=run_dir, write_graph=False),
                 _StopOnNaN()]
    start = time.time()
    history = model.fit(train_ds, steps_per_epoch=epoch_steps, epochs=epochs, validation_data=val_ds,
                        callbacks=callbacks, verbose=2)
    seconds = time.time() - start
    echo(f"Trained in {seconds:.1f} s ({total_steps * batch / max(seconds, 1e-9):.0f} drawings/s).")
    return model, history, seconds, epoch_steps


def backup_dir(config) -> str:
    return os.path.join(config.path("checkpoint_dir"), "backup")


def final_weights_path(config) -> str:
    """Where a finished native run keeps its weights, for --resume."""
    return os.path.join(config.path("checkpoint_dir"), "final", "model.weights.h5")


class _StopOnNaN:
    """Stops at the first non-finite loss with advice, as the TF-Hub head does (not after every epoch)."""

    def __new__(cls):
        from common.errors import TrainingDivergedError
        from common.tfcompat import keras

        class StopOnNaN(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                loss = (logs or {}).get("loss")
                if loss is not None and not np.isfinite(loss):
                    raise TrainingDivergedError(
                        f"The loss became {loss} at step {batch}: training diverged. Lower "
                        f"--learning_rate (e.g. by 10x) and run again; the backup was discarded.")
        return StopOnNaN()
