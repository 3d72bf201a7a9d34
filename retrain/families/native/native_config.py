"""The native family's own options (NativeConfig), with no TensorFlow import: the CLI's --help and
the Python API's option table read their defaults without starting TensorFlow."""

from __future__ import annotations

import dataclasses
from typing import Optional

from common.errors import ConfigError
from retrain.families.native.schedule_config import SCHEDULES, ScheduleShape

NATIVE_OPTIMIZERS = ("adam", "adamw", "sgd", "momentum", "rmsprop")
# A native run's length when the user chose neither --how_many_training_steps nor --epochs: retrain.py's
# 4000 steps are 15 passes over 13 classes' 26k training drawings but 3 over 69 classes' 128k, where
# the net was still learning (docs/benchmarks.md#69-classes). So: at least DEFAULT_PASSES passes, at
# least retrain.py's steps, and at most MAX_DEFAULT_STEPS (~25 min of quickdraw_cnn on 2 CPU cores),
# so that a million drawings do not silently mean hours. Measured at 69 classes: 14,000 steps (11 passes)
# gave the same test accuracy as 10,500 (8) in 1.3x the time (docs/benchmarks.md#longer-training-this-round).
DEFAULT_PASSES = 8
# Dropout before a native net's classifier when --dropout is not given (a TF-Hub head's default: none).
DEFAULT_DROPOUT = 0.3
MAX_DEFAULT_STEPS = 12000
# Keras "epochs" of a run counted in steps: blocks of this many steps (validation and a backup after
# each). The data-scaled length is a whole number of blocks, so the schedule ends where training does.
BLOCK_STEPS = 500
# Flags of the TF-Hub family that mean nothing for a net trained from scratch.
NOT_APPLICABLE = ("tfhub_module", "input_size", "bottleneck_dir", "cache_batch_size", "fine_tune",
                  "fine_tune_steps", "fine_tune_batch_size", "fine_tune_learning_rate",
                  "intermediate_store_frequency", "class_weights", "input_preprocessing")


@dataclasses.dataclass(frozen=True)
class NativeConfig(ScheduleShape):
    """The native family's own options (the shared ones stay in TrainConfig).

    Attributes:
      epochs: passes over the training split; 0 = --how_many_training_steps if given, else the
        data-scaled default (total_steps()).
      lr_schedule / warmup_steps / decay_steps / decay_rate / eta_min: inherited from ScheduleShape
        (schedule_config.py, the one place they are declared).
      weight_decay: decoupled weight decay (AdamW-style) for the optimizer; 0 disables.
      mixed_precision: float16 compute on GPUs (refused on CPU: it is slower there).
      pooling: "avg" or "gem" for the embedding layer. avg by default: GeM measured better in float
        (+3.2 points of macro top-1 at 69 classes, a quarter of the data) but its int8 TFLite lost 9.0
        points against float32 on the full 69 classes (avg: 0.2), and int8 is what apps ship.
      shuffle_buffer: drawings in the bounded shuffle buffer.
      class_balanced: sample classes uniformly (shorthand for class_weighting="balanced").
      max_per_class: first N drawings of each file (0: all).
      class_weighting: each class's share of the training draws, spread evenly through every pass
        (retrain/data/sampling.py): "data" (its share of the drawings), "sqrt" (tempered, the default:
        measured best on 69 unbalanced classes, docs/benchmarks.md#69-classes), "balanced".
      teacher: a trained model folder whose soft predictions the net also learns (distillation).
      teacher_weight: the teacher's share of the target (the label has the rest).
      teacher_temperature: p**(1/T) renormalised: > 1 softens the teacher's probabilities.
      mixup: Beta(alpha, alpha) of mixup (mixup.py), 0 for none (the default: measured, see there).
      steps_from_data: set by the option table when the user gave neither --how_many_training_steps
        nor a positive --epochs: the run's length is total_steps() of the data (not a user option).
    """
    epochs: int = 0
    weight_decay: float = 0.0
    mixed_precision: bool = False
    pooling: str = "avg"
    shuffle_buffer: int = 10000
    class_balanced: bool = False
    max_per_class: int = 0
    class_weighting: str = "sqrt"
    teacher: Optional[str] = None
    teacher_weight: float = 0.7
    teacher_temperature: float = 1.0
    mixup: float = 0.0
    steps_from_data: bool = False

    def total_steps(self, steps_per_epoch: int, steps: int) -> tuple[int, str]:
        """(the run's steps, how they were chosen) for `steps_per_epoch` batches a pass and the
        --how_many_training_steps value `steps`."""
        if self.epochs:
            return self.epochs * steps_per_epoch, f"{self.epochs} passes (--epochs)"
        if not self.steps_from_data:
            return steps, "--how_many_training_steps"
        total = max(steps, min(DEFAULT_PASSES * steps_per_epoch, MAX_DEFAULT_STEPS))
        total = -(-total // BLOCK_STEPS) * BLOCK_STEPS
        return total, (f"{total / steps_per_epoch:.1f} passes, the default: {DEFAULT_PASSES} passes, at least "
                       f"{steps} and at most {MAX_DEFAULT_STEPS} steps; --epochs or --how_many_training_steps "
                       f"choose")

    @property
    def weighting(self) -> str:
        """The sampling weighting this run uses (--class_balanced wins over --class_weighting)."""
        return "balanced" if self.class_balanced else self.class_weighting

    def __post_init__(self):
        if self.lr_schedule not in SCHEDULES:
            raise ConfigError(f"--lr_schedule must be one of {', '.join(SCHEDULES)}.")
        if not 0.0 <= self.teacher_weight <= 1.0 or self.teacher_temperature <= 0:
            raise ConfigError("--teacher_weight must lie in [0, 1] (the teacher's share of the target) and "
                              "--teacher_temperature be positive.")
        from retrain.data.sampling import WEIGHTINGS
        if self.class_weighting not in WEIGHTINGS:
            raise ConfigError(f"--class_weighting must be one of {', '.join(WEIGHTINGS)}.")
        if self.pooling not in ("avg", "gem"):
            raise ConfigError("--pooling must be avg or gem.")
        if self.epochs < 0 or self.warmup_steps < 0 or self.decay_steps < 1 or self.shuffle_buffer < 0 \
                or self.max_per_class < 0 or self.weight_decay < 0 or self.eta_min < 0 or not self.mixup >= 0:
            raise ConfigError("--epochs, --warmup_steps, --shuffle_buffer, --max_per_class, "
                              "--weight_decay, --eta_min and --mixup must be >= 0, --decay_steps >= 1.")
