"""The story of a training run, the same for every model family:

    strategy -> family.train (data, split, training) -> final evaluation -> model folder -> export

Each step is a short function elsewhere; `run` reads like the story. The one branch point between
families is `family_for(architecture)` (retrain/families/base.py).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from common.errors import TrainingDivergedError
from common.progress import echo
from common.writable import check_writable, no_empty_folders_left_on_failure, write_errors
from retrain.distribution import strategy as distribute
from retrain.families.registry import family_for
from retrain.families.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a finished run produced (the CLI prints it; tests and the Python API read it)."""

    output_dir: str
    labels: tuple
    test_top1: Optional[float]
    test_top5: Optional[float]
    is_chief: bool
    test_map3: Optional[float] = None
    run_id: Optional[str] = None
    test_macro_top1: Optional[float] = None


def run(config: TrainConfig) -> RunResult:
    """Runs the whole job. Raises QdretrainError subclasses for problems the user can fix."""
    config.check_outputs_outside_data()  # the Python API too, not only the CLI
    family = family_for(config.architecture, config.native.teacher if config.native else None)
    # The strategy first: MultiWorkerMirroredStrategy must exist before any other TensorFlow op.
    strategy = distribute.create_strategy(config.strategy)
    info = distribute.worker_info(strategy)
    echo(f"Strategy: {distribute.strategy_name(strategy)}, {strategy.num_replicas_in_sync} replica(s)"
         + (f", worker {info.task_id} of {info.num_workers}" if info.num_workers > 1 else ""))
    uses_cache = family.name == "tfhub_head"
    with no_empty_folders_left_on_failure(*output_folders(config, info.is_chief, uses_cache).values()):
        trained, evaluation, run_id = _train_and_write(config, family, strategy, info, uses_cache)

    if info.is_chief:
        if config.export_formats:
            from android_export.exporter import export_model_dir
            export_model_dir(config.output_dir, formats=config.export_formats)
        echo(where_everything_went(config, exported=bool(config.export_formats)))
    return RunResult(output_dir=config.output_dir, labels=tuple(trained.labels),
                     test_top1=evaluation.top1 if evaluation else None,
                     test_top5=evaluation.top5 if evaluation else None, is_chief=info.is_chief,
                     test_map3=evaluation.map3 if evaluation else None, run_id=run_id,
                     test_macro_top1=evaluation.macro_top1 if evaluation else None)


def _train_and_write(config: TrainConfig, family, strategy, info, uses_cache: bool):
    """check folders -> family.train -> final evaluation -> model folder (the chief's part of `run`)."""
    from retrain.evaluation.final import evaluate_test_set
    from retrain.model_folder import contract
    from retrain.run.model_writer import write_model_folder
    check_output_folders(config, info.is_chief, uses_cache=uses_cache)  # before the module loads and the cache fills
    from common.tfcompat import keras
    keras.utils.set_random_seed(config.seed)
    run_id = contract.new_run_id()
    worker_dir = distribute.output_dir_for_worker(config.output_dir, info)
    evaluation = None
    try:
        trained = family.train(config, strategy, info, worker_dir)
        # Every worker saves (MultiWorkerMirroredStrategy needs all of them to take part); only the
        # chief's go to the real places.
        out_dir = config.output_dir if info.is_chief else worker_dir
        effective = config if info.is_chief else _redirect_outputs(config, worker_dir)
        if info.is_chief:
            trained = _calibrated(config, trained, family.name)
            os.makedirs(out_dir, exist_ok=True)
            with write_errors(out_dir, "--output_dir"):
                evaluation = evaluate_test_set(
                    trained.classifier, trained.test_records, trained.labels, trained.spec.input_size,
                    trained.model_info.get("family", family.name), out_dir, echo,
                    config.print_misclassified_test_images,
                    train_counts=trained.train_counts)
        write_model_folder(effective, trained, out_dir, run_id)
        trained.keep_for_resume(effective)
        for line in trained.warnings:
            echo(line)
    except TrainingDivergedError:
        if info.is_chief:  # a diverged run's backup must not block the rerun with a lower rate
            from retrain.families.backups import discard_backups
            discard_backups(family.backups(config))
        raise
    finally:
        distribute.cleanup_worker_dir(worker_dir, info)

    return trained, evaluation, run_id


def _calibrated(config: TrainConfig, trained, family_name: str):
    """The trained model with its temperature fitted and folded in (retrain/evaluation/temperature.py),
    before the final evaluation, so the test scores, the model folder and every export are the
    calibrated model's. The fit is recorded in model_info.json's "confidence_calibration"."""
    if not config.temperature_scaling:
        return trained
    from retrain.evaluation.temperature import calibrate, unfolded
    fitted = calibrate(trained.classifier, trained.validation_records, trained.spec.input_size,
                       trained.model_info.get("family", family_name), config.seed, echo)
    if fitted is None:
        return trained

    def keep_for_resume(effective) -> None:  # --resume continues from the weights as trained
        unfolded(trained.classifier, fitted.temperature, lambda: trained.keep_for_resume(effective))

    return dataclasses.replace(trained, model_info={**trained.model_info, "confidence_calibration": fitted.to_json()},
                               keep_for_resume=keep_for_resume)


def output_folders(config: TrainConfig, is_chief: bool, uses_cache: bool = True) -> dict:
    """Option -> folder, for every folder the run writes to (on this worker)."""
    folders = {"--bottleneck_dir": config.bottleneck_dir} if uses_cache else {}
    if not is_chief:  # other workers write into a temporary folder of their own
        return folders
    folders.update({"--output_dir": config.output_dir, "--checkpoint_dir": config.path("checkpoint_dir"),
                    "--summaries_dir": config.path("summaries_dir")})
    for option, name in (("--output_graph", "output_graph"), ("--output_labels", "output_labels")):
        if getattr(config, name):
            folders[option] = os.path.dirname(os.path.abspath(config.path(name)))
    if config.saved_model_dir:
        folders["--saved_model_dir"] = config.saved_model_dir
    return folders


def check_output_folders(config: TrainConfig, is_chief: bool, uses_cache: bool = True) -> None:
    """Every folder the run will write to takes a probe file, before minutes of caching and training.

    Raises:
      OutputError: one is read-only, full or not a folder; the message names the option.
    """
    for option, folder in output_folders(config, is_chief, uses_cache).items():
        check_writable(folder, option)


def where_everything_went(config: TrainConfig, exported: bool = False) -> str:
    """The run's last line: the model folder, the copies the user asked for elsewhere, what next."""
    out = os.path.abspath(config.output_dir)
    extra = [config.path(name) for name in ("output_graph", "output_labels", "saved_model_dir")
             if getattr(config, name) and not os.path.abspath(config.path(name)).startswith(out + os.sep)]
    also = f"; copies at {', '.join(extra)}" if extra else ""
    following = (f"qdretrain android --model_dir {config.output_dir} --output app_assets" if exported else
                 f"qdretrain export --model_dir {config.output_dir}")
    return (f"Done. Model folder {config.output_dir} (retrained_graph.pb, retrained_labels.txt, saved_model/, "
            f"model_info.json, evaluation and plots){also}. Next: {following}")


def _redirect_outputs(config: TrainConfig, worker_dir: str) -> TrainConfig:
    """A non-chief worker's copy of the config: every output inside its temporary folder."""
    return dataclasses.replace(
        config, output_dir=worker_dir, output_graph=None, output_labels=None, saved_model_dir=None,
        summaries_dir=None, checkpoint_dir=None, intermediate_output_graphs_dir=None)
