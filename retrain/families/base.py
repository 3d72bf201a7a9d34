"""What every model family is: one small protocol, and what its training hands back to the run story.

A family is a way to train: the TF-Hub head on cached bottlenecks (hub_head/), the doodle-native nets
from scratch (native/), next a distilled student. The run story (retrain/run/story.py) knows nothing
else about them: it asks retrain/families/registry.family_for(architecture) for one, calls `train`, then evaluates the returned
classifier and writes the model folder the same way for all of them.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Protocol, Sequence


@dataclasses.dataclass(frozen=True)
class TrainingHistory:
    """Per-step curves of a run, for training_curves.png and training_history.json.

    Attributes:
      steps: the step of each entry.
      history: {"loss": [...], "accuracy": [...], "val_loss": [...], ...}, one value per step.
      seconds: wall time of the training.
    """
    steps: tuple
    history: dict
    seconds: float


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """A family's finished model and what the model folder must record about it.

    Attributes:
      classifier: Keras model, float input [b, H, W, 3] in [-1, 1] -> `final_result` softmax; its
        embedding is a layer named "embedding" (native) or the backbone's output (TF-Hub).
      spec: the resolved ArchitectureSpec (input size, input preprocessing).
      labels: class names in model output order.
      test_records: the held-back test images/drawings (ImageRecords) the final evaluation scores.
      splits: splits.json's contents: where the data is and each set's record names.
      model_info: this family's entries of model_info.json (module, family, drawing contract, ...).
      run_config: extra entries of run_config.json (e.g. the native options).
      history: the training curves, or None.
      skipped: (path, reason) of files left out of the data.
      keep_for_resume: (the run's effective config) -> None: writes what `--resume` needs into the
        checkpoint folder (called after the model folder is complete).
      warnings: lines to print at the end of the run.
      train_counts: label -> training drawings (the final evaluation names weak classes with them).
      validation_records: the validation split's ImageRecords (the chief's; the temperature is fitted
        on a sample of them, retrain/evaluation/temperature.py).
    """
    classifier: object
    spec: object
    labels: tuple
    test_records: Sequence
    splits: dict
    model_info: dict
    run_config: dict = dataclasses.field(default_factory=dict)
    history: Optional[TrainingHistory] = None
    skipped: tuple = ()
    keep_for_resume: Callable[[object], None] = lambda config: None
    warnings: tuple = ()
    train_counts: dict = dataclasses.field(default_factory=dict)
    validation_records: Sequence = ()


class ModelFamily(Protocol):
    """A way to train a classifier on a run's data.

    Attributes:
      name: the family's name, as model_info.json's "family" and ArchitectureSpec.trainer say it.
    """
    name: str

    def train(self, config, strategy, info, worker_dir: str) -> TrainedModel:
        """Reads the data of `config`, splits it, trains, and returns the classifier.

        Args:
          config: the run's TrainConfig (retrain/families/config.py).
          strategy: the tf.distribute strategy, created first by the run story.
          info: retrain/distribution/strategy.WorkerInfo of this process.
          worker_dir: this worker's private folder (non-chief workers write there).
        """

    def backups(self, config) -> list[str]:
        """The BackupAndRestore folders this family's runs keep (removed when a run diverges)."""
