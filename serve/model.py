"""The exported artifacts of a model dir, ready to classify: one runner per artifact, each behind a lock.

The runners are android_export.runners' (the ones `label_image` and export verification use), so the
page runs the artifact a phone will run, not the Python model. A LiteRT interpreter is not
thread-safe, hence the lock per artifact; TFLite files open at start (fast), a SavedModel on first use
(it imports TensorFlow).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Optional

import numpy as np

from common.errors import QdretrainError

# What the page can switch between, in the order it lists them; the first one found is the default.
ARTIFACTS = ("model.tflite", "model_int8.tflite", "model_fp16.tflite", "model_dynamic.tflite", "saved_model")


@dataclasses.dataclass(frozen=True)
class Classification:
    """One answer: every label's score (model output order), the artifact and the model's time."""

    artifact: str
    scores: np.ndarray
    latency_ms: float


class ServedModel:
    """A model dir's labels, input contract (model_info.json) and artifacts."""

    def __init__(self, model_dir: str, default_artifact: Optional[str] = None):
        """Finds the artifacts and opens the TFLite ones.

        Raises:
          QdretrainError: not a model dir, no exported artifact, or `default_artifact` is not there.
        """
        from android_export.label_image import resolve_labels
        from retrain.model_folder import contract as outputs
        self.model_dir = model_dir
        info_path = os.path.join(model_dir, outputs.MODEL_INFO_FILE)
        if not os.path.exists(info_path):
            raise QdretrainError(f"{model_dir} has no {outputs.MODEL_INFO_FILE}: pass a `qdretrain train` "
                                 f"output dir as --model_dir.")
        self.info = outputs.read_model_info(info_path)  # refused at start-up, with one line, if damaged
        self.height, self.width = int(self.info["input_height"]), int(self.info["input_width"])
        self.mean, self.std = float(self.info["input_mean"]), float(self.info["input_std"])
        present = [name for name in ARTIFACTS if os.path.exists(os.path.join(model_dir, name))]
        # An export left by an earlier training run, or changed since, must not answer for this model.
        self.artifacts, self.refused = [], {}
        for name in present:
            problem = outputs.exported_artifact_problem(os.path.join(model_dir, name))
            if problem:
                self.refused[name] = problem
            else:
                self.artifacts.append(name)
        if default_artifact in self.refused:
            raise QdretrainError(self.refused[default_artifact])
        if not self.artifacts:
            raise QdretrainError(f"{model_dir} has no exported model ({', '.join(ARTIFACTS)}). Run "
                                 f"`qdretrain export --model_dir {model_dir}` first.")
        if default_artifact is not None and default_artifact not in self.artifacts:
            raise QdretrainError(f"{model_dir} has no {default_artifact}; it has {', '.join(self.artifacts)} "
                                 f"(`qdretrain export --model_dir {model_dir}` writes the others).")
        self.default_artifact = default_artifact or self.artifacts[0]
        first = os.path.join(model_dir, self.default_artifact)
        self.labels = resolve_labels(first, None)
        problem = outputs.labels_problem(self.info, self.labels, os.path.join(model_dir, outputs.LABELS_FILE))
        if problem:
            raise QdretrainError(problem)
        self._runners: dict = {}
        self._locks = {name: threading.Lock() for name in self.artifacts}
        self._open_lock = threading.Lock()
        # Every artifact that opens at start is also run once on a blank page, so a truncated or foreign
        # file, or one with another label count, is refused now, not answered with a 500 on each request.
        blank = np.full((self.height, self.width, 3), 255, np.uint8)
        for name in list(self.artifacts):
            if not (name.endswith(".tflite") or name == self.default_artifact):
                continue
            try:
                self.classify(blank, name)
            except Exception as error:  # noqa: BLE001 (any failure to open or run refuses the artifact)
                reason = str(error) if isinstance(error, QdretrainError) else \
                    f"it cannot be run ({type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:120]})"
                if name == self.default_artifact and default_artifact is not None:
                    raise QdretrainError(f"{name}: {reason}. Run `qdretrain export --model_dir {model_dir}` "
                                         f"again.") from None
                self.refused[name] = f"{reason}. Run `qdretrain export --model_dir {model_dir}` again."
                self.artifacts.remove(name)
                self._runners.pop(name, None)
                self._locks.pop(name, None)
        if not self.artifacts:
            raise QdretrainError(f"{model_dir} has no artifact that runs: "
                                 + "; ".join(f"{k}: {v}" for k, v in self.refused.items()))
        if self.default_artifact not in self.artifacts:
            self.default_artifact = self.artifacts[0]

    def _runner(self, name: str):
        with self._open_lock:
            if name not in self._runners:
                from android_export.runners import open_artifact
                runner = open_artifact(os.path.join(self.model_dir, name))
                if (runner.input_height, runner.input_width) != (self.height, self.width):
                    raise QdretrainError(f"{name} takes {runner.input_height}x{runner.input_width} images but "
                                         f"model_info.json says {self.height}x{self.width}; export again.")
                self._runners[name] = runner
            return self._runners[name]

    def contract(self) -> dict:
        """What GET /model returns: model_info.json plus the labels and the artifacts on offer."""
        return {**self.info, "labels": self.labels, "artifacts": self.artifacts,
                "default_artifact": self.default_artifact}

    def classify(self, pixels: np.ndarray, artifact: Optional[str] = None) -> Classification:
        """Runs one artifact on one image.

        Args:
          pixels: uint8 [height, width] (grayscale) or [height, width, 3] (RGB), the model's input size.
          artifact: one of `self.artifacts` (None: the default).

        Raises:
          KeyError: an artifact that is not on offer.
        """
        name = artifact or self.default_artifact
        if name not in self._locks:
            raise KeyError(name)
        runner = self._runner(name)
        rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
        batch = ((rgb.astype(np.float32) - self.mean) / self.std)[None]
        with self._locks[name]:
            start = time.perf_counter()
            scores = runner.predict(batch)[0]
            latency = (time.perf_counter() - start) * 1000.0
        if scores.shape != (len(self.labels),):
            raise QdretrainError(f"{name} gives {scores.shape[0]} scores for {len(self.labels)} labels.")
        return Classification(name, scores, latency)
