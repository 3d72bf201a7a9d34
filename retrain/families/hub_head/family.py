"""The TF-Hub family: a new softmax head trained on the module's cached bottlenecks, then optionally
the whole network fine-tuned on images (--fine_tune).

`HubHeadFamily.train` is what the run story calls: module -> data -> split -> bottlenecks -> head
(-> fine-tuning); it hands back the classifier (`input` -> `final_result`, the module's output as
its embedding) and what the model folder records about it.
"""

from __future__ import annotations

import datetime
import os
from typing import Optional


from common.errors import ConfigError
from common.progress import echo
from common.writable import write_errors
from retrain.distribution import strategy as distribute
from retrain.families import architectures
from retrain.families.backups import check_backup, run_signature
from retrain.families.base import TrainedModel
from retrain.families.config import TrainConfig
from retrain.families.hub_head.train import schedule_of, summary_callbacks, training_params
from retrain.data.loading import load_index, rendered_splits, split_index

FAMILY = "tfhub_head"


def resolve_architecture(config: TrainConfig):
    """Registry entry + resolved module; a custom module's feature size is probed, not trusted."""
    from retrain.families.hub_head import hub_modules
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
    from retrain.model_folder import input_preprocessing
    chosen = input_preprocessing.resolve(config.input_preprocessing, drawings=drawings)
    echo(f"Input preprocessing (inside the model): {chosen.name} - {chosen.summary}")
    return architectures.with_overrides(spec, input_preprocessing=chosen.name)


def cached_features(config: TrainConfig, spec, module, splits: dict, info, strategy,
                    stream_above_bytes: Optional[int] = None) -> dict:
    """Bottlenecks for every split: each worker computes its shard, then all read the whole cache.

    Returns:
      {split name: retrain.families.hub_head.feature_stream.FeatureSplit}: a split whose features take more than
      `stream_above_bytes` (None: feature_stream.STREAM_ABOVE_BYTES) is streamed from the part files,
      so memory does not grow with the number of cached features; smaller ones are held as arrays.
    """
    from retrain.families.hub_head import feature_stream
    from retrain.families.hub_head.bottlenecks import BottleneckCache
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


def summaries_run_dir(config: TrainConfig, info, worker_dir: str) -> str:
    """A fresh folder per run: retrain.py deleted --summaries_dir; we never delete a user's folder."""
    run_name = datetime.datetime.now().strftime("run-%Y%m%d-%H%M%S")
    root = config.path("summaries_dir") if info.is_chief else os.path.join(worker_dir, "summaries")
    return os.path.join(root, run_name)


def final_head_path(config: TrainConfig) -> str:
    """Where a finished head-only run keeps its head, for --resume."""
    return os.path.join(config.path("checkpoint_dir"), "final", "head.weights.h5")


def train_head_on_features(config, spec, module, features, labels, strategy, info, worker_dir,
                           run_dir):
    """Builds the head in the strategy's scope and trains it on cached bottlenecks."""
    from retrain.families.hub_head import feature_stream
    from retrain.families.hub_head import model as model_lib
    from retrain.families.hub_head import train
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
    check_backup(backup, run_signature("head", module.fingerprint, labels,
                                       [r.relpath for r in features["training"].records], schedule_of(params)),
                 info.is_chief, echo)
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
    from retrain.families.hub_head import feature_stream, train
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
    from retrain.model_folder.frozen_graph import write_frozen_graph
    from retrain.families.hub_head import model as model_lib
    from retrain.families.hub_head import train
    classifier = model_lib.build_classifier(spec, module, head)  # shares the head's weights
    folder = config.path("intermediate_output_graphs_dir")

    def write(step: int) -> None:
        path = os.path.join(folder, f"intermediate_{step}.pb")
        write_frozen_graph(classifier, path, output_node_name=config.final_tensor_name)
        echo(f"Saved intermediate graph {path}")
    return train.IntermediateGraphs(config.intermediate_store_frequency, epoch_steps, total_steps, write)


def limit_test_set(features: dict, test_batch_size: int, seed: int) -> dict:
    """retrain.py's --test_batch_size: evaluate on that many random test images (-1: all)."""
    from retrain.data.split import seeded_indices
    testing = features["testing"]
    chosen = seeded_indices(len(testing), test_batch_size, seed)
    return features if chosen is None else {**features, "testing": testing.subset(chosen)}


def _concatenate_results(head_phase, fine_tune_phase):
    """One history for the curves: the head's steps, then the fine-tuning steps after them."""
    from retrain.families.hub_head.train import TrainingResult
    last = head_phase.steps[-1] if head_phase.steps else 0
    history = {key: list(head_phase.history.get(key, [])) + list(fine_tune_phase.history.get(key, []))
               for key in set(head_phase.history) | set(fine_tune_phase.history)}
    return TrainingResult(steps=list(head_phase.steps) + [last + s for s in fine_tune_phase.steps],
                          history=history, seconds=head_phase.seconds + fine_tune_phase.seconds,
                          resumed_from_epoch=fine_tune_phase.resumed_from_epoch,
                          epoch_steps=fine_tune_phase.epoch_steps)




def limit_test_records(records, test_batch_size: int, seed: int) -> list:
    """retrain.py's --test_batch_size: that many random test images, in split order (-1: all)."""
    from retrain.data.split import seeded_subset
    return seeded_subset(records, test_batch_size, seed)


class HubHeadFamily:
    """A TF-Hub module as a frozen backbone, a new head on its cached bottlenecks, optional fine-tuning."""

    name = FAMILY

    def backups(self, config: TrainConfig) -> list:
        from retrain.families.hub_head import train
        backup = train.backup_dir_for(config.path("checkpoint_dir"))
        return [backup, backup + "_fine_tune"]

    def train(self, config: TrainConfig, strategy, info, worker_dir: str) -> TrainedModel:
        from retrain.data.renderings import looks_like_drawings
        from retrain.families.base import TrainingHistory
        from retrain.families.hub_head import model as model_lib
        spec, module = resolve_architecture(config)
        echo(f"Module: {module.handle} ({spec.input_size}x{spec.input_size} -> {spec.feature_size} features)")
        index = load_index(config)
        drawings = looks_like_drawings(index.records)  # decides renderings and input preprocessing alike
        spec = with_input_preprocessing(config, spec, drawings)
        labels = tuple(index.labels)
        splits = split_index(index, config)
        # The head trains on cached bottlenecks first, also before fine-tuning: fine-tuning from a
        # random head would push large, noisy gradients into the pretrained backbone.
        features = cached_features(config, spec, module, rendered_splits(config, splits, drawings), info,
                                   strategy)
        run_dir = summaries_run_dir(config, info, worker_dir)
        head, result = train_head_on_features(config, spec, module, features, labels, strategy, info,
                                              worker_dir, run_dir)
        # Only images the cache could decode: the scan's checks already listed the others.
        usable = {name: features[name].records for name in ("training", "validation", "testing")}
        if config.fine_tune:
            from retrain.families.hub_head.finetune import fine_tune
            classifier, tuned = fine_tune(config, spec, module, usable, head, labels, strategy, info,
                                          worker_dir, run_dir, echo)
            result = _concatenate_results(result, tuned)
        else:
            echo("Joining the module and the trained head into one model (input -> final_result)...")
            classifier = model_lib.build_classifier(spec, module, head)

        def keep_for_resume(effective: TrainConfig) -> None:
            if config.fine_tune:  # --fine_tune runs keep no head to resume
                return
            final = final_head_path(effective)
            with write_errors(os.path.dirname(final), "--checkpoint_dir"):
                os.makedirs(os.path.dirname(final), exist_ok=True)
                head.save_weights(final)

        from convert.render import contract_for
        from retrain.data.quickdraw_source import RENDER_OPTIONS
        return TrainedModel(
            classifier=classifier, spec=spec, labels=labels,
            test_records=limit_test_records(usable["testing"], config.test_batch_size, config.seed),
            validation_records=usable["validation"] if info.is_chief else [],
            splits={"image_dir": os.path.abspath(config.image_dir) if config.image_dir else None,
                    "quickdraw_dir": os.path.abspath(config.quickdraw_dir) if config.quickdraw_dir else None,
                    **{name: [r.relpath for r in records] for name, records in splits.items()}},
            model_info={"module_handle": module.handle, "module_fingerprint": module.fingerprint,
                        "family": FAMILY,
                        # How strokes must be drawn for this model (convert/drawing.py; DrawingRenderer.kt).
                        "drawing_contract": contract_for(RENDER_OPTIONS).to_json(),
                        "renderings": config.renderings},
            history=TrainingHistory(tuple(result.steps), dict(result.history), result.seconds),
            skipped=tuple(index.skipped), keep_for_resume=keep_for_resume,
            train_counts=_counts(splits["training"], labels))


def _counts(records, labels) -> dict:
    """label -> records of it (the final evaluation shows a weak class's training count)."""
    counts = dict.fromkeys(labels, 0)
    for record in records:
        counts[record.label] = counts.get(record.label, 0) + 1
    return counts
