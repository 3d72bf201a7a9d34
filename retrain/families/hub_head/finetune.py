"""--fine_tune: after the head has trained on cached bottlenecks, train backbone and head together on
images, with augmentation suited to drawings (the keras-io recipe: head first, then fine-tune).

No bottleneck cache in this phase: the backbone changes every step, so features cannot be reused. Doodles are
line drawings, so the augmentation is geometric only — small rotations, shifts and scale changes, and
left-right flips (most doodles mean the same mirrored; --no_flip_left_right turns that off); no colour
jitter, which means nothing on black-and-white strokes.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from common.tfcompat import keras, tf


def augmenter(seed: int, flip_left_right: bool) -> keras.Sequential:
    """Random geometric changes; `nearest` fill keeps the background colour whatever the polarity."""
    layers = [
        keras.layers.RandomRotation(0.04, fill_mode="nearest", seed=seed),  # about +-15 degrees
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 1),
        keras.layers.RandomZoom((-0.1, 0.1), fill_mode="nearest", seed=seed + 2),
    ]
    if flip_left_right:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 3))
    return keras.Sequential(layers, name="augmentation")


def image_dataset(records, num_classes: int, size: int, batch_size: int, training: bool, seed: int,
                  augment: keras.Sequential = None, shuffle: bool = False) -> tf.data.Dataset:
    """Decoded, resized, normalised ([-1, 1]) image batches with one-hot labels.

    Image files are decoded as they stream (undecodable ones are dropped: the scan already listed
    them); QuickDraw rows (--quickdraw_dir) are rendered once up front, at convert's default 64 px.
    """
    from retrain.data.images import decode_and_resize, pixels_to_input, render_drawings
    labels = np.array([r.label_index for r in records], dtype=np.int32)
    drawings = any(r.row is not None for r in records)
    if drawings:
        ds = tf.data.Dataset.from_tensor_slices((render_drawings(records), labels))
    else:
        ds = tf.data.Dataset.from_tensor_slices(([r.source for r in records], labels))
    if training or shuffle:
        ds = ds.shuffle(len(records), seed=seed, reshuffle_each_iteration=True)
    if training:
        ds = ds.repeat()
    if drawings:
        ds = ds.map(lambda p, y: (pixels_to_input(p, size), tf.one_hot(y, num_classes)),
                    num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda p, y: (decode_and_resize(tf.io.read_file(p), size), tf.one_hot(y, num_classes)),
                    num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.ignore_errors()
    ds = ds.batch(batch_size, drop_remainder=training)
    if training and augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def fresh_renderings(records, num_classes: int, size: int, batch_size: int, renderings: int,
                     seed: int) -> tf.data.Dataset:
    """Training batches of drawings re-rendered at random on every pass (issue 9: "on the fly").

    The head trained on `renderings` cached renderings per drawing; fine-tuning has no cache, so each
    pass over the data draws every drawing anew: the canonical rendering with probability
    1/renderings, otherwise random rendering number `1 + pass` (convert/drawing_augment.py, seeded by
    the run's seed, the drawing's content and that number), so no two passes see the same pixels.
    QuickDraw rows are read once up front (a bitmap row is 784 bytes); image files are read as they go.

    Args:
      records: the training records, possibly with the cached renderings' copies (they are folded
        back into one record per drawing).
    """
    import dataclasses

    from retrain.data import quickdraw_source
    from retrain.data.images import augmented_file_pixels, decode_rgb_on_white, pixels_to_input
    unique = list({(r.source, r.row): dataclasses.replace(r, rendering=0) for r in records}.values())
    rows_by_source: dict[str, list[int]] = {}
    for r in unique:
        if r.row is not None:
            rows_by_source.setdefault(r.source, []).append(r.row)
    drawings = {(source, row): d for source, rows in rows_by_source.items()
                for row, d in quickdraw_source.read_drawings(source, rows).items()}

    def generate():
        passes = 0
        while True:
            rng = np.random.default_rng([seed, passes])
            for i in rng.permutation(len(unique)):
                record = unique[i]
                k = 0 if rng.random() < 1.0 / renderings else 1 + passes
                try:
                    if record.row is not None:
                        pixels = quickdraw_source.render(drawings[(record.source, record.row)], k, seed)
                    elif k:
                        pixels = augmented_file_pixels(dataclasses.replace(record, rendering=k, augment_seed=seed))
                    else:
                        # Training's own decoder (alpha on white), as the canonical rendering.
                        pixels = decode_rgb_on_white(tf.io.read_file(record.source)).numpy().astype(np.uint8)
                except Exception:  # an unreadable file is dropped (the scan listed it already)
                    continue
                yield pixels, record.label_index
            passes += 1

    ds = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([], tf.int32)))
    ds = ds.map(lambda p, y: (pixels_to_input(p, size), tf.one_hot(y, num_classes)),
                num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE).with_options(options)


def fine_tune(config, spec, module, splits: dict, head, labels, strategy, info, worker_dir: str,
              run_dir: str, echo: Callable[[str], None]):
    """Trains the whole classifier, starting from the trained `head`.

    Args:
      splits: "training" / "validation" / "testing" records whose images decode (the cache's).
      labels: the class names, in output order.
      run_dir: this run's TensorBoard folder; this phase logs into run_dir/fine_tune.

    Returns:
      (classifier, TrainingResult); the run story evaluates the classifier like any other.
    """
    import dataclasses

    from retrain.distribution import strategy as distribute
    from retrain.families.hub_head import model as model_lib
    from retrain.families.hub_head import train
    from retrain.families.backups import check_backup, run_signature
    from retrain.families.hub_head.train import schedule_of, summary_callbacks, training_params
    num_classes = len(labels)
    params = dataclasses.replace(
        training_params(config, strategy.num_replicas_in_sync, config.effective_fine_tune_learning_rate),
        steps=config.fine_tune_steps,
        batch_size=distribute.global_batch_size(config.fine_tune_batch_size, strategy.num_replicas_in_sync))
    with strategy.scope():
        classifier = model_lib.build_classifier(spec, module, head, trainable_backbone=True)
        train.compile_for_training(classifier, params, from_logits=False)
    augment = augmenter(config.seed, config.flip_left_right) if config.augment else None
    if any(r.rendering for r in splits["training"]):  # drawings with --renderings > 1: fresh ones each pass
        echo(f"Fine-tuning on drawings re-rendered at random on every pass (--renderings {config.renderings}).")
        train_ds = fresh_renderings(splits["training"], num_classes, spec.input_size, params.batch_size,
                                    config.renderings, config.seed)
        if augment is not None:
            train_ds = train_ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        train_ds = image_dataset(splits["training"], num_classes, spec.input_size, params.batch_size, True,
                                 config.seed, augment)
    val_records = splits["validation"]
    next_validation = None
    if val_records:
        val_batch = len(val_records) if params.validation_batch_size < 0 else params.validation_batch_size
        # Shuffled, so each evaluation scores a random batch (the records are sorted by label).
        next_validation = train.dataset_validation_batches(image_dataset(
            val_records, num_classes, spec.input_size, min(val_batch, len(val_records)), False,
            config.seed, shuffle=True).repeat())
    # The same on every worker (BackupAndRestore handles non-chief writes itself), see pipeline.py.
    backup_root = config.path("checkpoint_dir")
    echo(f"Fine-tuning backbone and head on images ({params.steps} steps of {params.batch_size}).")
    backup = train.backup_dir_for(backup_root) + "_fine_tune"
    check_backup(backup, run_signature("fine_tune", module.fingerprint, labels,
                                       [r.relpath for r in splits["training"]], schedule_of(params)),
                 info.is_chief, echo)
    result = train.fit(classifier, train_ds, next_validation, params, backup_dir=backup,
                       extra_callbacks=summary_callbacks(os.path.join(run_dir, "fine_tune")),
                       echo=echo, summary_dir=os.path.join(run_dir, "fine_tune", "steps"))
    echo(f"Fine-tuned in {result.seconds:.1f} s.")
    return classifier, result
