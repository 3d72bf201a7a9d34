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

from retrain.errors import ConfigError, DatasetError
from retrain.native.augment import AugmentConfig
from retrain.native.schedules import SCHEDULES

NATIVE_OPTIMIZERS = ("adam", "adamw", "sgd", "momentum", "rmsprop")
# Flags of the TF-Hub family that mean nothing for a net trained from scratch.
NOT_APPLICABLE = ("tfhub_module", "input_size", "bottleneck_dir", "cache_batch_size", "fine_tune",
                  "fine_tune_steps", "fine_tune_batch_size", "fine_tune_learning_rate",
                  "intermediate_store_frequency", "class_weights", "input_preprocessing")


@dataclasses.dataclass(frozen=True)
class NativeConfig:
    """The native family's own options (the shared ones stay in TrainConfig).

    Attributes:
      epochs: passes over the training split; 0 = use --how_many_training_steps.
      lr_schedule / warmup_steps / decay_steps / decay_rate / eta_min: see schedules.py.
      weight_decay: decoupled weight decay (AdamW-style) for the optimizer; 0 disables.
      mixed_precision: float16 compute on GPUs (refused on CPU: it is slower there).
      pooling: "avg" or "gem" for the embedding layer.
      shuffle_buffer: drawings in the bounded shuffle buffer.
      class_balanced: sample classes uniformly.
      max_per_class: first N drawings of each file (0: all).
    """
    epochs: int = 0
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    decay_steps: int = 1000
    decay_rate: float = 0.1
    eta_min: float = 0.0
    weight_decay: float = 0.0
    mixed_precision: bool = False
    pooling: str = "avg"
    shuffle_buffer: int = 10000
    class_balanced: bool = False
    max_per_class: int = 0

    def __post_init__(self):
        if self.lr_schedule not in SCHEDULES:
            raise ConfigError(f"--lr_schedule must be one of {', '.join(SCHEDULES)}.")
        if self.pooling not in ("avg", "gem"):
            raise ConfigError("--pooling must be avg or gem.")
        if self.epochs < 0 or self.warmup_steps < 0 or self.decay_steps < 1 or self.shuffle_buffer < 0 \
                or self.max_per_class < 0 or self.weight_decay < 0 or self.eta_min < 0:
            raise ConfigError("--epochs, --warmup_steps, --shuffle_buffer, --max_per_class, "
                              "--weight_decay and --eta_min must be >= 0, --decay_steps >= 1.")


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
    from retrain.tfcompat import keras
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
    from retrain.tfcompat import keras, tf
    if not enabled:
        return
    if not tf.config.list_physical_devices("GPU"):
        raise ConfigError("--mixed_precision needs a GPU (none is visible to TensorFlow); on CPU it is "
                          "slower than float32. Drop the flag.")
    keras.mixed_precision.set_global_policy("mixed_float16")


def _batches(ds, batch_size: int, size: int, num_classes: int, augment: Optional[AugmentConfig], seed: int):
    from retrain.native.augment import augment as apply_augment
    from retrain.native.augment import ink_to_contract
    from retrain.tfcompat import tf
    ds = ds.batch(batch_size)

    def prepare(ink, label):
        x = tf.cast(ink, tf.float32) / 255.0
        if augment is not None:
            x = apply_augment(x, augment, seed)
        return ink_to_contract(x, size), tf.one_hot(label, num_classes)
    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def run(config, native: NativeConfig, echo) -> dict:
    """Trains, evaluates and writes the model dir. Returns {"top1", "top5", "map3", "labels", ...}.

    Raises:
      DatasetError: no usable drawings; ConfigError: options that cannot work.
    """
    from retrain import architectures, distribute
    from retrain.native import data as native_data
    from retrain.native import nets
    from retrain.native.schedules import NativeSchedule, ScheduleConfig
    from retrain.tfcompat import keras, tf

    strategy = distribute.create_strategy(config.strategy)
    info = distribute.worker_info(strategy)
    set_mixed_precision(native.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    spec = architectures.get(config.architecture)
    shard = (info.rank, info.num_workers)
    data = native_data.image_data(config, spec.input_size, shard) if config.image_dir else \
        native_data.drawing_data(config, native.max_per_class, shard, echo)
    labels = data.labels
    if not data.train_count:
        raise DatasetError("No training drawings for this worker after the split; add drawings or lower "
                           "the percentages.")
    batch = distribute.global_batch_size(config.train_batch_size, strategy.num_replicas_in_sync)
    steps_per_epoch = max(1, data.train_count * info.num_workers // batch)
    total_steps = native.epochs * steps_per_epoch if native.epochs else config.how_many_training_steps
    echo(f"Native {spec.name}: {len(labels)} classes, {data.train_count} training drawings (this worker), "
         f"{total_steps} steps of {batch}")
    schedule_config = ScheduleConfig(native.lr_schedule, distribute.scaled_learning_rate(
        config.learning_rate, strategy.num_replicas_in_sync), total_steps, native.warmup_steps,
        native.decay_steps, native.decay_rate, min(native.eta_min, config.learning_rate))
    augment = AugmentConfig(flip_left_right=config.flip_left_right) if config.augment else None
    train_ds = _batches(data.train(shuffle_buffer=native.shuffle_buffer, class_balanced=native.class_balanced,
                                   repeat=True, seed=config.seed),
                        batch, spec.input_size, len(labels), augment, config.seed)
    options = tf.data.Options()
    # Sharded by hand above (each worker reads its rows), so tf.distribute must not shard again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    train_ds = train_ds.with_options(options)
    val_ds = _batches(data.validation(), batch, spec.input_size,
                      len(labels), None, 0).take(max(1, config.validation_batch_size * 1 // batch or 1))
    with strategy.scope():
        model = nets.build(spec.name, len(labels), native.pooling, config.dropout or 0.3, config.seed)
        model.compile(optimizer=make_optimizer(config.optimizer, NativeSchedule(schedule_config),
                                               native.weight_decay),
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                      metrics=["accuracy", keras.metrics.TopKCategoricalAccuracy(5, name="top5")])
    checkpoints = config.path("checkpoint_dir")
    backup = os.path.join(checkpoints, "backup")
    if not config.resume and info.is_chief and os.path.isdir(backup) and os.listdir(backup):
        echo(f"Found a backup in {backup} of an interrupted run: resuming it (delete the folder to start over).")
    weights = os.path.join(checkpoints, "final", "model.weights.h5")
    if config.resume:
        if not os.path.exists(weights):
            raise ConfigError(f"--resume: no finished model at {weights}. Run once without --resume first.")
        model.load_weights(weights)
        echo(f"Resumed from {weights}")
    epoch_steps = min(total_steps, steps_per_epoch if native.epochs else max(1, min(total_steps, 500)))
    epochs = max(1, -(-total_steps // epoch_steps))
    run_dir = os.path.join(config.path("summaries_dir"), time.strftime("run-%Y%m%d-%H%M%S"))
    callbacks = [keras.callbacks.BackupAndRestore(backup),
                 keras.callbacks.TensorBoard(log_dir=run_dir, write_graph=False)]
    start = time.time()
    history = model.fit(train_ds, steps_per_epoch=epoch_steps, epochs=epochs, validation_data=val_ds,
                        callbacks=callbacks, verbose=2)
    seconds = time.time() - start
    echo(f"Trained in {seconds:.1f} s ({total_steps * batch / max(seconds, 1e-9):.0f} drawings/s).")

    out_dir = config.output_dir if info.is_chief else distribute.output_dir_for_worker(config.output_dir, info)
    os.makedirs(out_dir, exist_ok=True)
    result = {"labels": labels, "seconds": seconds, "top1": None, "top5": None, "map3": None,
              "steps": total_steps}
    if info.is_chief:
        result.update(_evaluate(model, data, spec, out_dir, echo))
    _write_outputs(config, native, spec, model, data, out_dir, history.history, result)
    os.makedirs(os.path.dirname(weights), exist_ok=True)
    model.save_weights(weights)
    for line in data.warnings():
        echo(line)
    return result


def _evaluate(model, data, spec, out_dir, echo) -> dict:
    from retrain import evaluate, outputs
    labels = data.labels
    probabilities, true = [], []
    for x, y in _batches(data.testing(), 512, spec.input_size, len(labels), None, 0):
        probabilities.append(model(x, training=False).numpy())
        true.append(np.argmax(y.numpy(), axis=1))
    if not probabilities:
        echo("No test drawings (raise --testing_percentage): skipping the final evaluation.")
        return {}
    probabilities, true = np.concatenate(probabilities), np.concatenate(true)
    # Image names only when no file was dropped on the way (a decode failure would shift them).
    names = list(data.test_names) if data.test_names and len(data.test_names) == len(true) else \
        [f"test#{i}" for i in range(len(true))]
    result = evaluate.evaluate(probabilities, true, list(labels), names)
    map3 = result.map3
    echo(evaluate.format_summary(result, False))
    evaluate.write_evaluation(result, out_dir)
    outputs.write_json({"map_at_3": map3, "top1": result.top1, "top5": result.top5, "test_drawings": len(true)},
                       os.path.join(out_dir, "native_evaluation.json"))
    return {"top1": result.top1, "top5": result.top5, "map3": map3}


def _write_outputs(config, native, spec, model, data, out_dir, history, result):
    from android_export.frozen_graph import write_frozen_graph
    from android_export.saved_model import save_serving_model
    from retrain import outputs
    from retrain.native.drawing_adapter import drawing_contract_json
    write_frozen_graph(model, os.path.join(out_dir, "retrained_graph.pb"),
                       output_node_name=config.final_tensor_name)
    labels = data.labels
    outputs.write_labels(labels, os.path.join(out_dir, outputs.LABELS_FILE))
    save_serving_model(model, os.path.join(out_dir, "saved_model"))
    info = outputs.model_info(spec, list(labels), f"native:{spec.name}", "", quantization="none")
    info.update({"output_tensor": config.final_tensor_name, "family": "native", "net_channels": spec.channels,
                 "embedding_layer": "embedding", "pooling": native.pooling,
                 "drawing_contract": drawing_contract_json()})
    outputs.write_json(info, os.path.join(out_dir, outputs.MODEL_INFO_FILE))
    outputs.write_json({**dataclasses.asdict(config), "native": dataclasses.asdict(native)},
                       os.path.join(out_dir, outputs.RUN_CONFIG_FILE))
    outputs.write_json(data.splits_json(), os.path.join(out_dir, "splits.json"))
    outputs.write_json({**{k: [float(v) for v in vals] for k, vals in history.items()},
                        "seconds": result["seconds"]}, os.path.join(out_dir, "training_history.json"))
