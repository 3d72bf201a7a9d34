"""The run's configuration: one frozen dataclass, built by the CLI, saved as JSON beside the outputs.

Defaults follow retrain.py where it had the option (so old command lines mean the same thing); each
default has a one-line reason.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from common.errors import ConfigError

OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop", "adamw")  # adamw: native architectures only
CLASS_WEIGHTS = ("none", "balanced")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
EXPORT_FORMATS = ("tflite", "tflite_fp16", "tflite_dynamic", "tflite_int8", "onnx")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # --- data ---
    image_dir: Optional[str] = None          # folders of images, one per label
    quickdraw_dir: Optional[str] = None      # or QuickDraw .npy/.ndjson files, read directly
    quickdraw_per_class: int = 1000          # drawings taken per class from --quickdraw_dir; 0: all
    exclude_list: Optional[str] = None       # file of record names left out of every split (audit)
    testing_percentage: int = 10             # retrain.py's default
    validation_percentage: int = 10          # retrain.py's default
    # --- backbone ---
    architecture: str = "mobilenet_0.25_224"  # ships with the package: works offline
    tfhub_module: Optional[str] = None       # overrides the registry handle (URL or folder)
    input_size: Optional[int] = None         # only for a custom module of another size
    # --- cache ---
    bottleneck_dir: str = "bottlenecks"      # features are computed once and reused from here
    cache_batch_size: int = 32               # images per forward pass when caching
    # --- training (retrain.py's flags and defaults) ---
    how_many_training_steps: int = 4000
    learning_rate: float = 0.01
    train_batch_size: int = 100
    eval_step_interval: int = 10
    validation_batch_size: int = 100
    test_batch_size: int = -1                # -1: the whole test set
    optimizer: str = "sgd"                   # retrain.py used plain gradient descent
    label_smoothing: float = 0.0
    dropout: float = 0.0
    class_weights: str = "none"              # "balanced" weights classes by 1/frequency
    seed: int = 0                            # initializers, shuffling and augmentation
    renderings: int = 3                      # cached renderings per training drawing (retrain/data/renderings.py)
    input_preprocessing: str = "auto"        # inside the model, before the backbone (retrain/model_folder/input_preprocessing.py)
    # --- fine-tuning ---
    fine_tune: bool = False                  # then train the backbone too, on augmented images
    fine_tune_steps: int = 500               # steps of the fine-tuning phase (after the head's)
    fine_tune_batch_size: int = 32           # images per step: backprop through the backbone is costly
    fine_tune_learning_rate: Optional[float] = None  # default: learning_rate / 10
    augment: bool = True                     # rotations, shifts, scale, flips while fine-tuning
    flip_left_right: bool = True             # most doodles mean the same mirrored
    # --- distribution ---
    strategy: str = "auto"
    # --- outputs ---
    output_dir: str = "retrain_output"
    output_graph: Optional[str] = None       # default <output_dir>/retrained_graph.pb
    output_labels: Optional[str] = None      # default <output_dir>/retrained_labels.txt
    saved_model_dir: Optional[str] = None    # default <output_dir>/saved_model
    summaries_dir: Optional[str] = None      # default <output_dir>/summaries
    checkpoint_dir: Optional[str] = None     # default <output_dir>/checkpoints
    resume: bool = False                     # continue from checkpoint_dir
    intermediate_store_frequency: int = 0    # every N steps also write a graph (0: never)
    intermediate_output_graphs_dir: Optional[str] = None  # default <output_dir>/intermediate_graphs
    final_tensor_name: str = "final_result"
    print_misclassified_test_images: bool = False
    temperature_scaling: bool = True         # confidences calibrated on validation (retrain/evaluation/temperature.py)
    export_formats: tuple = ()               # --export: run `qdretrain export` at the end
    # --- native family (retrain/families/native/): its own options, None for TF-Hub architectures ---
    native: Optional[object] = None          # a retrain.families.native.train.NativeConfig

    def __post_init__(self):
        # Only checks of values against each other; nothing here touches disk or devices.
        if bool(self.image_dir) == bool(self.quickdraw_dir):
            raise ConfigError("Pass exactly one of --image_dir (folders of images, one per label) or "
                              "--quickdraw_dir (QuickDraw .npy/.ndjson files).")
        if not 0 <= self.testing_percentage < 100 or not 0 <= self.validation_percentage < 100 or \
                self.testing_percentage + self.validation_percentage >= 100:
            raise ConfigError("--testing_percentage and --validation_percentage must each be in [0, 100) "
                              "and leave some images for training (their sum below 100).")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}.")
        if self.class_weights not in CLASS_WEIGHTS:
            raise ConfigError(f"--class_weights must be one of {', '.join(CLASS_WEIGHTS)}.")
        from retrain.model_folder import input_preprocessing
        if self.input_preprocessing not in input_preprocessing.CHOICES:
            raise ConfigError(f"--input_preprocessing must be one of {', '.join(input_preprocessing.CHOICES)}.")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}.")
        if self.how_many_training_steps < 1 or self.train_batch_size < 1 or self.eval_step_interval < 1:
            raise ConfigError("--how_many_training_steps, --train_batch_size and --eval_step_interval "
                              "must be at least 1.")
        positive = {"--learning_rate": self.learning_rate, "--cache_batch_size": self.cache_batch_size,
                    "--fine_tune_steps": self.fine_tune_steps,
                    "--fine_tune_batch_size": self.fine_tune_batch_size,
                    "--renderings": self.renderings}
        if self.fine_tune_learning_rate is not None:
            positive["--fine_tune_learning_rate"] = self.fine_tune_learning_rate
        if self.input_size is not None:
            positive["--input_size"] = self.input_size
        for option, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{option} must be positive (got {value}).")
        for option, value in {"--validation_batch_size": self.validation_batch_size,
                              "--test_batch_size": self.test_batch_size}.items():
            if value == 0 or value < -1:
                raise ConfigError(f"{option} must be -1 (all images) or a positive count (got {value}).")
        if self.quickdraw_per_class < 0:
            raise ConfigError(f"--quickdraw_per_class must be 0 (every drawing) or a positive count "
                              f"(got {self.quickdraw_per_class}).")
        if self.intermediate_store_frequency < 0:
            raise ConfigError("--intermediate_store_frequency must be 0 (never) or a positive step count.")
        if self.input_size is not None and not self.tfhub_module:
            raise ConfigError("--input_size only applies to a custom --tfhub_module; registry "
                              "architectures know their own size.")
        from retrain.families import architectures
        try:
            architectures.get(self.architecture)
        except KeyError as error:
            raise ConfigError(error.args[0]) from None
        if self.optimizer == "adamw" and not architectures.get(self.architecture).is_native:
            raise ConfigError("--optimizer adamw is for native architectures; TF-Hub heads take "
                              "sgd, momentum, adam or rmsprop.")
        unknown = [f for f in self.export_formats if f not in EXPORT_FORMATS]
        if unknown:
            raise ConfigError(f"Unknown export format(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(EXPORT_FORMATS)}.")
        for name in ("dropout", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be at least 0 and below 1 (got {getattr(self, name)}).")

    def check_outputs_outside_data(self) -> None:
        """Refuses an output folder inside --image_dir: the next scan would read its plots, cache and
        summaries as classes (`cd Output && qdretrain --image_dir .`). Paths only, nothing is created.
        Called by training (the `train` command and the run story), not by commands that read a
        dataset without writing a model folder (cache, audit, similar).

        Raises:
          ConfigError: one of the run's output folders lies inside --image_dir."""
        if not self.image_dir:
            return
        data = os.path.realpath(os.path.expanduser(self.image_dir))
        outputs = {"--output_dir": self.output_dir, "--summaries_dir": self.path("summaries_dir"),
                   "--checkpoint_dir": self.path("checkpoint_dir"),
                   "--saved_model_dir": self.path("saved_model_dir")}
        from retrain.families import architectures
        if not architectures.get(self.architecture).is_native:
            outputs["--bottleneck_dir"] = self.bottleneck_dir
        inside = [f"{option} {folder}" for option, folder in outputs.items()
                  if os.path.realpath(os.path.expanduser(folder)) == data
                  or os.path.realpath(os.path.expanduser(folder)).startswith(data.rstrip(os.sep) + os.sep)]
        if inside:
            raise ConfigError(f"{'; '.join(inside)} lie(s) inside --image_dir {self.image_dir}: the next scan "
                              f"would read qdretrain's own files as a class. Pass folders outside it, e.g. "
                              f"--output_dir ../retrain_output --bottleneck_dir ../bottlenecks (or run from "
                              f"the folder above).")

    # Output paths: retrain.py let each be set alone; unset ones go in output_dir.
    def path(self, name: str) -> str:
        defaults = {
            "output_graph": "retrained_graph.pb",
            "output_labels": "retrained_labels.txt",
            "saved_model_dir": "saved_model",
            "summaries_dir": "summaries",
            "checkpoint_dir": "checkpoints",
            "intermediate_output_graphs_dir": "intermediate_graphs",
        }
        explicit = getattr(self, name)
        return explicit if explicit else os.path.join(self.output_dir, defaults[name])

    @property
    def effective_fine_tune_learning_rate(self) -> float:
        if self.fine_tune_learning_rate is not None:
            return self.fine_tune_learning_rate
        return self.learning_rate / 10
