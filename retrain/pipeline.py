"""The retraining job, step by step: strategy -> module -> data -> split -> bottlenecks -> train ->
evaluate -> outputs. Each step is a short function; `run` reads like the story of a run.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
from typing import Optional

import click
import numpy as np

from retrain import architectures, distribute
from retrain.config import TrainConfig
from retrain.errors import ConfigError, DatasetError, TrainingDivergedError
from retrain.writable import check_writable, write_errors


def echo(message: str) -> None:
    click.echo(message, err=True)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a finished run produced (the CLI prints it; tests assert on it)."""

    output_dir: str
    labels: tuple
    test_top1: Optional[float]
    test_top5: Optional[float]
    is_chief: bool


def resolve_architecture(config: TrainConfig):
    """Registry entry + resolved module; a custom module's feature size is probed, not trusted."""
    from retrain import hub_modules
    try:
        spec = architectures.get(config.architecture)
    except KeyError as error:
        raise ConfigError(str(error.args[0])) from None
    if spec.is_native:
        raise ConfigError(f"{spec.name} is a native net trained from scratch: it has no TF-Hub module and "
                          f"no bottleneck cache. Train it with `qdretrain train --architecture {spec.name}`.")
    spec = architectures.with_overrides(spec, input_size=config.input_size)
    module = hub_modules.resolve_module(spec, config.tfhub_module)
    if config.tfhub_module or config.input_size:
        spec = architectures.with_overrides(
            spec, feature_size=hub_modules.probe_feature_size(module, spec.input_size))
    return spec, module


def with_input_preprocessing(config: TrainConfig, spec, drawings: bool):
    """`spec` with this run's --input_preprocessing resolved (`auto` looks at the data), said once.

    Args:
      drawings: whether the data are drawings (retrain/renderings.looks_like_drawings).
    """
    from retrain import input_preprocessing
    chosen = input_preprocessing.resolve(config.input_preprocessing, drawings=drawings)
    echo(f"Input preprocessing (inside the model): {chosen.name} - {chosen.summary}")
    return architectures.with_overrides(spec, input_preprocessing=chosen.name)


def load_index(config: TrainConfig):
    """Scans --image_dir (or --quickdraw_dir) and reports skipped files."""
    import warnings

    from retrain import dataset
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", dataset.DatasetWarning)
        if config.image_dir:
            index = dataset.scan_image_dir(config.image_dir)
        else:
            index = dataset.scan_quickdraw_dir(config.quickdraw_dir, config.quickdraw_per_class, config.seed)
    if config.exclude_list:
        from retrain.exclude import apply_exclude_list, read_exclude_list
        index, removed = apply_exclude_list(index, read_exclude_list(config.exclude_list))
        echo(f"Left out {removed} image(s) listed in {config.exclude_list}.")
    for warning in caught:  # one clean line each, not Python's "file:line: Warning" format
        echo(f"Warning: {warning.message}")
    echo(f"Found {len(index.records)} images in {len(index.labels)} classes.")
    if index.skipped:
        echo(f"Skipped {len(index.skipped)} unusable files:")
        for path, reason in index.skipped[:20]:
            echo(f"  skipped {path}: {reason}")
        if len(index.skipped) > 20:
            echo(f"  ... and {len(index.skipped) - 20} more (all listed in skipped_files.txt)")
    return index


def split_index(index, config: TrainConfig) -> dict:
    from retrain.split import split_records
    splits = split_records(index.records, config.testing_percentage, config.validation_percentage)
    echo("Split: " + ", ".join(f"{name} {len(records)}" for name, records in splits.items())
         + " (stable: hashed on each path relative to the image folder)")
    if not splits["training"]:
        raise DatasetError("No training images after the split. Add images or lower "
                           "--testing_percentage / --validation_percentage.")
    return splits


def rendered_splits(config: TrainConfig, splits: dict, drawings: bool) -> dict:
    """Training drawings x --renderings (retrain/renderings.py); photos and other splits unchanged."""
    from retrain import renderings
    if config.renderings > 1:
        echo(f"Renderings: {config.renderings} per training drawing" if drawings else
             "Renderings: none (the images do not look like drawings; photos get no rendering augmentation)")
    return renderings.expand_training(splits, config.renderings, config.seed, drawings)


def cached_features(config: TrainConfig, spec, module, splits: dict, info, strategy,
                    stream_above_bytes: Optional[int] = None) -> dict:
    """Bottlenecks for every split: each worker computes its shard, then all read the whole cache.

    Returns:
      {split name: retrain.feature_stream.FeatureSplit}: a split whose features take more than
      `stream_above_bytes` (None: feature_stream.STREAM_ABOVE_BYTES) is streamed from the part files,
      so memory does not grow with the number of cached features; smaller ones are held as arrays.
    """
    from retrain import feature_stream
    from retrain.bottlenecks import BottleneckCache
    if stream_above_bytes is None:
        stream_above_bytes = feature_stream.STREAM_ABOVE_BYTES
    cache = BottleneckCache(config.bottleneck_dir, module, spec)
    everything = [r for name in ("training", "validation", "testing") for r in splits[name]]
    with write_errors(config.bottleneck_dir, "--bottleneck_dir"):
        report = cache.compute(everything, batch_size=config.cache_batch_size,
                               shard_index=info.rank if info.num_workers > 1 else 0,
                               shard_count=info.num_workers)
    echo(str(report))  # its first line already says "Bottlenecks in <dir>: ..."
    if info.num_workers > 1:
        distribute.barrier(strategy)  # every shard is on disk before anyone reads the whole cache
    features = {name: feature_stream.load_split(cache.locate(splits[name]), stream_above_bytes)
                for name in ("training", "validation", "testing")}
    streamed = [name for name, split in features.items() if split.streamed]
    if streamed:
        echo(f"Streaming the cached features of {', '.join(streamed)} from {cache.dir} (too many to "
             f"hold in memory).")
    return features


def training_params(config: TrainConfig, num_replicas: int, learning_rate: float):
    from retrain.train import TrainingParams
    return TrainingParams(
        steps=config.how_many_training_steps, eval_interval=config.eval_step_interval,
        batch_size=distribute.global_batch_size(config.train_batch_size, num_replicas),
        validation_batch_size=config.validation_batch_size,
        learning_rate=distribute.scaled_learning_rate(learning_rate, num_replicas),
        optimizer=config.optimizer, label_smoothing=config.label_smoothing,
        class_weights=config.class_weights, seed=config.seed)


def summaries_run_dir(config: TrainConfig, info, worker_dir: str) -> str:
    """A fresh folder per run: retrain.py deleted --summaries_dir; we never delete a user's folder."""
    run_name = datetime.datetime.now().strftime("run-%Y%m%d-%H%M%S")
    root = config.path("summaries_dir") if info.is_chief else os.path.join(worker_dir, "summaries")
    return os.path.join(root, run_name)


def summary_callbacks(run_dir: str) -> list:
    from retrain.tfcompat import keras
    return [keras.callbacks.TensorBoard(log_dir=run_dir, write_graph=False)]


def check_backup(backup: str, signature: dict, is_chief: bool) -> None:
    """A backup is only resumed by the run that made it: same data, labels, module and schedule.

    Raises:
      ConfigError: the backup in `backup` belongs to a different run.
    """
    from retrain import outputs
    from retrain.backups import recover_damaged_backup
    path = backup.rstrip(os.sep) + ".run.json"
    chief = os.path.join(backup, "chief")

    def has_backup() -> bool:
        return os.path.isdir(chief) and bool(os.listdir(chief))
    if has_backup() and os.path.exists(path) and outputs.read_json(path) != signature:
        raise ConfigError(
            f"{backup} holds the backup of an interrupted run with other settings (data, labels, "
            f"module or schedule). Rerun that command to finish it, or delete {backup} (and "
            f"{path}) to start this one from scratch, or pass another --checkpoint_dir.")
    if has_backup():
        recover_damaged_backup(backup, echo)  # a truncated backup is moved aside, not resumed from
    if has_backup():
        echo(f"Found a backup in {backup}: resuming the interrupted run from it.")
    elif is_chief:
        outputs.write_json(signature, path)


def _run_signature(config: TrainConfig, module, labels, records, params, phase: str) -> dict:
    import hashlib
    digest = hashlib.sha1("\n".join(r.relpath for r in records).encode()).hexdigest()
    return {"phase": phase, "module": module.fingerprint, "labels": list(labels), "training_images": digest,
            "steps": params.steps, "eval_interval": params.eval_interval, "batch_size": params.batch_size,
            "learning_rate": params.learning_rate, "optimizer": params.optimizer}


def final_head_path(config: TrainConfig) -> str:
    """Where a finished head-only run keeps its head, for --resume."""
    return os.path.join(config.path("checkpoint_dir"), "final", "head.weights.h5")


def train_head_on_features(config, spec, module, features, labels, strategy, info, worker_dir,
                           run_dir):
    """Builds the head in the strategy's scope and trains it on cached bottlenecks."""
    from retrain import feature_stream
    from retrain import model as model_lib
    from retrain import train
    num_classes = len(labels)
    params = training_params(config, strategy.num_replicas_in_sync, config.learning_rate)
    with strategy.scope():
        head = model_lib.build_head(spec.feature_size, num_classes, config.dropout, config.seed)
        train.compile_for_training(head, params, from_logits=True)
    final_weights = final_head_path(config)
    if config.resume:
        if not os.path.exists(final_weights):
            raise ConfigError(f"--resume: no finished head at {final_weights}. Run once without "
                              f"--resume first (a crashed run resumes from its backup by itself; "
                              f"--fine_tune runs keep no head to resume).")
        try:
            head.load_weights(final_weights)
        except ValueError as error:
            raise ConfigError(f"--resume: the head in {final_weights} does not fit this run ({error}); "
                              f"were labels or the module changed? Start without --resume.") from None
        echo(f"Resumed the head from {final_weights}")
    errors = feature_stream.StreamErrors()
    train_ds, next_validation = _head_datasets(features["training"], features["validation"], num_classes,
                                               params, errors)
    class_weight = (train.balanced_class_weights(features["training"].labels, num_classes)
                    if config.class_weights == "balanced" else None)
    # The same folder on every worker: BackupAndRestore itself sends non-chief writes to a temporary
    # subfolder, and every worker restores from the chief's backup, so a restarted cluster resumes in step.
    backup = train.backup_dir_for(config.path("checkpoint_dir"))
    check_backup(backup, _run_signature(config, module, labels, features["training"].records, params, "head"),
                 info.is_chief)
    callbacks = summary_callbacks(os.path.join(run_dir, "head"))
    if config.intermediate_store_frequency > 0 and info.is_chief:
        callbacks.append(_intermediate_graphs(config, spec, module, head, train.epoch_steps_for(params),
                                              params.steps))
    with write_errors(config.path("checkpoint_dir"), "--checkpoint_dir"), errors.reraised():
        result = train.fit(head, train_ds, next_validation, params, backup_dir=backup,
                           extra_callbacks=callbacks, echo=echo, class_weight=class_weight,
                           summary_dir=os.path.join(run_dir, "head", "steps"))
    if result.resumed_from_epoch:
        echo(f"Resumed from backup at step {result.resumed_from_epoch * result.epoch_steps}.")
    echo(f"Trained the head in {result.seconds:.1f} s.")
    return head, result


def _head_datasets(training, validation, num_classes: int, params, errors):
    """(training batches, validation callable): from arrays when held in memory, else streamed."""
    from retrain import feature_stream, train
    if not training.streamed and not validation.streamed:
        return train.feature_datasets(training.array, training.labels, validation.array, validation.labels,
                                      num_classes, params)
    train_ds = (feature_stream.training_dataset(training, num_classes, params.batch_size, params.seed, errors)
                if training.streamed else
                train.feature_training_dataset(training.array, training.labels, num_classes, params))
    next_validation = (feature_stream.validation_batches(validation, num_classes, params.validation_batch_size,
                                                         params.seed + 1, errors)
                       if validation.streamed else
                       train.feature_validation_batches(validation.array, validation.labels, num_classes,
                                                        params))
    return train_ds, next_validation


def _intermediate_graphs(config, spec, module, head, epoch_steps, total_steps):
    """retrain.py's --intermediate_store_frequency: intermediate_N.pb graphs while training."""
    from android_export.frozen_graph import write_frozen_graph
    from retrain import model as model_lib
    from retrain import train
    classifier = model_lib.build_classifier(spec, module, head)  # shares the head's weights
    folder = config.path("intermediate_output_graphs_dir")

    def write(step: int) -> None:
        path = os.path.join(folder, f"intermediate_{step}.pb")
        write_frozen_graph(classifier, path, output_node_name=config.final_tensor_name)
        echo(f"Saved intermediate graph {path}")
    return train.IntermediateGraphs(config.intermediate_store_frequency, epoch_steps, total_steps, write)


def limit_test_set(features: dict, test_batch_size: int, seed: int) -> dict:
    """retrain.py's --test_batch_size: evaluate on that many random test images (-1: all)."""
    testing = features["testing"]
    if test_batch_size < 0 or test_batch_size >= len(testing):
        return features
    chosen = np.sort(np.random.default_rng(seed).permutation(len(testing))[:test_batch_size])
    return {**features, "testing": testing.subset(chosen)}


def predict_test(head, features) -> Optional[np.ndarray]:
    """Softmax of the head over the test split, in its records' order (None: no test images)."""
    from retrain import feature_stream
    from retrain.tfcompat import tf
    testing = features["testing"]
    if not len(testing):
        return None
    logits = feature_stream.predict_logits(head, testing, feature_stream.StreamErrors())
    return tf.nn.softmax(logits).numpy()


def write_outputs(config: TrainConfig, spec, module, labels, classifier, splits, result, out_dir: str,
                  index) -> None:
    """Graph, labels, SavedModel, model_info.json, run_config.json, splits, curves (into `out_dir`;
    a non-chief worker passes its temporary folder).

    Raises:
      OutputError: a write failed (full disk, read-only folder); model_info.json, written last, is
        then absent, so export refuses the half-written folder.
    """
    with write_errors(out_dir, "--output_dir"):
        _write_outputs(config, spec, module, labels, classifier, splits, result, out_dir, index)


def _write_outputs(config, spec, module, labels, classifier, splits, result, out_dir, index) -> None:
    from android_export.frozen_graph import write_frozen_graph
    from android_export.saved_model import save_serving_model
    from retrain import outputs, plots
    from retrain.model_dirs import pointer_info
    os.makedirs(out_dir, exist_ok=True)
    # model_info.json is the mark of a complete model folder (export refuses a folder without it):
    # an earlier run's must not vouch for the half-written files of this one.
    marker = os.path.join(out_dir, outputs.MODEL_INFO_FILE)
    if os.path.exists(marker):
        os.remove(marker)
    copies = []  # folders outside out_dir that get a graph or SavedModel: each gets a model_info.json
    # `qdretrain export` / `android` read the model dir, so it always holds the graph, labels and
    # SavedModel; --output_graph / --output_labels / --saved_model_dir elsewhere get copies too.
    def elsewhere(option: str, name: str) -> bool:
        return os.path.abspath(config.path(option)) != os.path.abspath(os.path.join(out_dir, name))

    graph_path = os.path.join(out_dir, "retrained_graph.pb")
    write_frozen_graph(classifier, graph_path, output_node_name=config.final_tensor_name)
    if elsewhere("output_graph", "retrained_graph.pb"):
        os.makedirs(os.path.dirname(os.path.abspath(config.path("output_graph"))), exist_ok=True)
        outputs.atomic_write_bytes(config.path("output_graph"), open(graph_path, "rb").read())
        copies.append(os.path.dirname(os.path.abspath(config.path("output_graph"))))
    outputs.write_labels(labels, os.path.join(out_dir, outputs.LABELS_FILE))
    if elsewhere("output_labels", outputs.LABELS_FILE):
        outputs.write_labels(labels, config.path("output_labels"))
    save_serving_model(classifier, os.path.join(out_dir, "saved_model"))
    if elsewhere("saved_model_dir", "saved_model"):
        save_serving_model(classifier, config.path("saved_model_dir"))
        copies.append(os.path.abspath(config.path("saved_model_dir")))
    outputs.write_json(dataclasses.asdict(config), os.path.join(out_dir, outputs.RUN_CONFIG_FILE))
    outputs.write_json({"image_dir": os.path.abspath(config.image_dir) if config.image_dir else None,
                        "quickdraw_dir": os.path.abspath(config.quickdraw_dir) if config.quickdraw_dir else None,
                        **{name: [r.relpath for r in records] for name, records in splits.items()}},
                       os.path.join(out_dir, "splits.json"))
    if index.skipped:
        outputs.atomic_write_bytes(os.path.join(out_dir, "skipped_files.txt"),
                                   "".join(f"{p}\t{why}\n" for p, why in index.skipped).encode())
    if result is not None:
        outputs.atomic_write_bytes(os.path.join(out_dir, "training_curves.png"),
                                   plots.plot_training_curves(result.history, result.steps))
        outputs.write_json({"steps": result.steps, **result.history, "seconds": result.seconds},
                           os.path.join(out_dir, "training_history.json"))
    # The float artifacts' contract; quantized exports add their own entries under "exports". Last:
    # it marks the folder complete.
    info = outputs.model_info(spec, labels, module.handle, module.fingerprint, quantization="none")
    info["output_tensor"] = config.final_tensor_name
    from convert.render import contract_for
    from retrain.quickdraw_source import RENDER_OPTIONS
    # How strokes must be drawn for this model (convert/drawing.py; DrawingRenderer.kt in the bundle).
    info["drawing_contract"] = contract_for(RENDER_OPTIONS).to_json()
    info["renderings"] = config.renderings
    # Already inside every artifact: the app sends the input contract above, nothing more.
    info["input_preprocessing"] = spec.input_preprocessing
    intermediate = os.path.abspath(config.path("intermediate_output_graphs_dir"))
    if os.path.isdir(intermediate) and not intermediate.startswith(os.path.abspath(out_dir) + os.sep):
        copies.append(intermediate)  # inside out_dir, the model folder's own model_info.json is near
    for folder in dict.fromkeys(copies):
        if folder != os.path.abspath(out_dir):
            outputs.write_json(pointer_info(info, out_dir), os.path.join(folder, outputs.MODEL_INFO_FILE))
    outputs.write_json(info, marker)


def evaluate_and_report(config, labels, probabilities, test_records, out_dir, spec) -> object:
    """Top-1/top-5, per-class accuracy, confusion matrix, misclassified grid; prints the summary."""
    from retrain import evaluate, outputs, plots
    from retrain.images import load_record_images
    if probabilities is None:
        echo("No test images (the test split is empty: raise --testing_percentage or add images): "
             "skipping the final evaluation.")
        return None
    true = np.array([r.label_index for r in test_records])
    result = evaluate.evaluate(probabilities, true, list(labels), [r.relpath for r in test_records])
    echo(evaluate.format_summary(result, config.print_misclassified_test_images))
    evaluate.write_evaluation(result, out_dir)
    shown = evaluate.pick_misclassified(result.misclassified, 32)  # a grid that stays readable
    by_name = {r.relpath: r for r in test_records}
    images = load_record_images([by_name[m.name] for m in shown], spec.input_size)
    titles = [evaluate.misclassified_title(m) for m in shown]
    outputs.atomic_write_bytes(os.path.join(out_dir, "misclassified.png"),
                               plots.plot_misclassified_grid(images, titles, total=len(result.misclassified)))
    return result


def run(config: TrainConfig) -> RunResult:
    """Runs the whole job. Raises QdretrainError subclasses for problems the user can fix."""
    # The one branch point between model families (retrain.architectures.FAMILIES).
    if architectures.get(config.architecture).is_native:
        return run_native(config)
    # The strategy first: MultiWorkerMirroredStrategy must exist before any other TensorFlow op.
    strategy = distribute.create_strategy(config.strategy)
    info = distribute.worker_info(strategy)
    echo(f"Strategy: {distribute.strategy_name(strategy)}, {strategy.num_replicas_in_sync} replica(s)"
         + (f", worker {info.task_id} of {info.num_workers}" if info.num_workers > 1 else ""))
    check_output_folders(config, info.is_chief)  # before the module loads and the cache fills
    from retrain.tfcompat import keras
    keras.utils.set_random_seed(config.seed)

    spec, module = resolve_architecture(config)
    echo(f"Module: {module.handle} ({spec.input_size}x{spec.input_size} -> {spec.feature_size} features)")
    index = load_index(config)
    from retrain.renderings import looks_like_drawings
    drawings = looks_like_drawings(index.records)  # decides renderings and input preprocessing alike
    spec = with_input_preprocessing(config, spec, drawings)
    labels = tuple(index.labels)
    splits = split_index(index, config)
    worker_dir = distribute.output_dir_for_worker(config.output_dir, info)
    try:
        # The head trains on cached bottlenecks first, also before fine-tuning: fine-tuning from a
        # random head would push large, noisy gradients into the pretrained backbone.
        features = cached_features(config, spec, module, rendered_splits(config, splits, drawings), info,
                                   strategy)
        run_dir = summaries_run_dir(config, info, worker_dir)
        head, result = train_head_on_features(config, spec, module, features, labels, strategy, info,
                                              worker_dir, run_dir)
        features = limit_test_set(features, config.test_batch_size, config.seed)
        if config.fine_tune:
            from retrain.finetune import fine_tune
            # Only images the cache could decode: the scan's checks already listed the others.
            usable = {name: features[name].records for name in ("training", "validation", "testing")}
            classifier, tuned, probabilities, test_records = fine_tune(
                config, spec, module, usable, head, labels, strategy, info, worker_dir, run_dir, echo)
            result = _concatenate_results(result, tuned)
        else:
            from retrain import model as model_lib
            classifier = model_lib.build_classifier(spec, module, head)
            probabilities = predict_test(head, features)
            test_records = features["testing"].records
        # Every worker saves (MultiWorkerMirroredStrategy needs all of them to take part); only the
        # chief's go to the real places.
        out_dir = config.output_dir if info.is_chief else worker_dir
        effective = config if info.is_chief else _redirect_outputs(config, worker_dir)
        evaluation = None
        if info.is_chief:
            evaluation = evaluate_and_report(config, labels, probabilities, test_records, out_dir, spec)
            if evaluation is not None:  # the same test drawings under other renderings (retrain/panel.py)
                from retrain.panel import report_panel
                report_panel(classifier, test_records, spec.input_size, out_dir, echo)
        write_outputs(effective, spec, module, labels, classifier, splits, result, out_dir, index)
        if not config.fine_tune:
            final = final_head_path(effective)
            with write_errors(os.path.dirname(final), "--checkpoint_dir"):
                os.makedirs(os.path.dirname(final), exist_ok=True)
                head.save_weights(final)
    except TrainingDivergedError:
        if info.is_chief:
            discard_backups(config)  # a diverged run's backup must not block the rerun with a lower rate
        raise
    finally:
        distribute.cleanup_worker_dir(worker_dir, info)

    if info.is_chief:
        if config.export_formats:
            from android_export.exporter import export_model_dir
            export_model_dir(config.output_dir, formats=config.export_formats)
        echo(where_everything_went(config))
    return RunResult(output_dir=config.output_dir, labels=labels,
                     test_top1=evaluation.top1 if evaluation else None,
                     test_top5=evaluation.top5 if evaluation else None, is_chief=info.is_chief)


def run_native(config: TrainConfig) -> RunResult:
    """The native family: a net trained end to end on streamed drawings (retrain/native/train.py)."""
    from retrain.native.train import NativeConfig
    from retrain.native.train import run as train_native
    result = train_native(config, config.native or NativeConfig(), echo)
    if config.export_formats:
        from android_export.exporter import export_model_dir
        export_model_dir(config.output_dir, formats=config.export_formats)
    return RunResult(output_dir=config.output_dir, labels=tuple(result["labels"]), test_top1=result["top1"],
                     test_top5=result["top5"], is_chief=True)


def check_output_folders(config: TrainConfig, is_chief: bool) -> None:
    """Every folder the run will write to takes a probe file, before minutes of caching and training.

    Raises:
      OutputError: one is read-only, full or not a folder; the message names the option.
    """
    check_writable(config.bottleneck_dir, "--bottleneck_dir")
    if not is_chief:  # other workers write into a temporary folder of their own
        return
    folders = {"--output_dir": config.output_dir, "--checkpoint_dir": config.path("checkpoint_dir"),
               "--summaries_dir": config.path("summaries_dir")}
    for option, name in (("--output_graph", "output_graph"), ("--output_labels", "output_labels")):
        if getattr(config, name):
            folders[option] = os.path.dirname(os.path.abspath(config.path(name)))
    if config.saved_model_dir:
        folders["--saved_model_dir"] = config.saved_model_dir
    for option, folder in folders.items():
        check_writable(folder, option)


def discard_backups(config: TrainConfig) -> None:
    """Removes this run's backups (head and fine-tuning) and their run signatures."""
    from retrain import train
    backup = train.backup_dir_for(config.path("checkpoint_dir"))
    for path in (backup, backup + "_fine_tune"):
        shutil.rmtree(path, ignore_errors=True)
        if os.path.exists(path + ".run.json"):
            os.remove(path + ".run.json")


def where_everything_went(config: TrainConfig) -> str:
    """The run's last line: the model folder, and the copies the user asked for elsewhere."""
    out = os.path.abspath(config.output_dir)
    extra = [config.path(name) for name in ("output_graph", "output_labels", "saved_model_dir")
             if getattr(config, name) and not os.path.abspath(config.path(name)).startswith(out + os.sep)]
    also = f"; copies at {', '.join(extra)}" if extra else ""
    return (f"Done. Model folder {config.output_dir} (retrained_graph.pb, retrained_labels.txt, saved_model/, "
            f"model_info.json, evaluation and plots){also}. Next: qdretrain export --model_dir "
            f"{config.output_dir}")


def _concatenate_results(head_phase, fine_tune_phase):
    """One history for the curves: the head's steps, then the fine-tuning steps after them."""
    from retrain.train import TrainingResult
    last = head_phase.steps[-1] if head_phase.steps else 0
    history = {key: list(head_phase.history.get(key, [])) + list(fine_tune_phase.history.get(key, []))
               for key in set(head_phase.history) | set(fine_tune_phase.history)}
    return TrainingResult(steps=list(head_phase.steps) + [last + s for s in fine_tune_phase.steps],
                          history=history, seconds=head_phase.seconds + fine_tune_phase.seconds,
                          resumed_from_epoch=fine_tune_phase.resumed_from_epoch,
                          epoch_steps=fine_tune_phase.epoch_steps)


def _redirect_outputs(config: TrainConfig, worker_dir: str) -> TrainConfig:
    """A non-chief worker's copy of the config: every output inside its temporary folder."""
    return dataclasses.replace(
        config, output_dir=worker_dir, output_graph=None, output_labels=None, saved_model_dir=None,
        summaries_dir=None, checkpoint_dir=None, intermediate_output_graphs_dir=None)
