"""train / load / evaluate / predict / export: thin calls into the code the commands run.

  train     -> retrain/families/options.build_config (the CLI's option table) -> retrain/run/story.run
  evaluate  -> retrain/evaluation/final.evaluate_test_set (training's final evaluation)
  predict   -> android_export/label_image.classify_inputs on the SavedModel (what `label_image` does)
  export    -> android_export/exporter.export_model_dir (what `qdretrain export` does)
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Optional, Sequence

import numpy as np

from common.errors import QdretrainError
from common.progress import echo


def train_options() -> dict:
    """Every option `train` takes, with its default: `qdretrain train`'s flags by their Python names
    (export_formats is `--export`; `export=` is accepted too). output_dir None: retrain_output, or
    the folder --output_graph / --saved_model_dir name, as on the command line. Native architectures
    (quickdraw_cnn, ...) use retrain/families/options.py's NATIVE_DEFAULTS where an option is not given
    (Adam at 0.001, dropout 0.3, no augmentation), as `qdretrain train --help` says."""
    from retrain.families.options import defaults
    return defaults()


def train(image_dir=None, architecture: Optional[str] = None, **options) -> "Model":
    """Trains a model exactly as `qdretrain train` would with the same options, and returns it.

    Args:
      image_dir: folder of images, one subfolder per label (or pass quickdraw_dir=... instead).
      architecture: a registry name (`qdretrain architectures`); default mobilenet_0.25_224, which
        ships with qdretrain and works offline.
      **options: any other `qdretrain train` option by its Python name, e.g.
        how_many_training_steps=500, output_dir="model", export=["tflite"]. See train_options().

    Raises:
      ConfigError: an unknown option or a bad value (the message names the option).
      QdretrainError: any other problem the user can fix (the message says how).
    """
    from retrain.families.options import build_config
    if image_dir is not None:
        options["image_dir"] = image_dir
    if architecture is not None:
        options["architecture"] = architecture
    if "export" in options:
        options["export_formats"] = options.pop("export")
    # pathlib.Path values are welcome: the config holds plain strings (it is saved as JSON).
    options = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in options.items()}
    config, note = build_config(options, given=set(options))
    if note:
        echo(note)
    from retrain.run.story import run  # imports TensorFlow
    result = run(config)
    return Model(result.output_dir, run=result)


def load(model_dir) -> "Model":
    """A trained model folder (a `train` run's output_dir, or any folder the run wrote a copy to).

    Raises:
      QdretrainError: not a model folder; the message says which file is missing and how to get it.
    """
    return Model(os.fspath(model_dir))


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One input's answer: the best label, its score, and the top-k (label, score) pairs."""

    source: str
    label: str
    score: float
    top: tuple


class Model:
    """A trained model folder: labels, input contract (model_info.json), SavedModel and exports."""

    def __init__(self, model_dir: str, run=None):
        from android_export.exporter import read_model_dir
        folder = read_model_dir(model_dir)
        self._folder = folder
        self.model_dir: str = folder.path
        self.labels: tuple = folder.labels
        self.info: dict = folder.info
        self.run = run  # retrain.run.story.RunResult when this object came from train(), else None
        self._runner = None

    def __repr__(self) -> str:
        return (f"qdretrain.Model({self.model_dir!r}: {self.info.get('architecture', '?')}, "
                f"{len(self.labels)} labels)")

    def _reference(self):
        if self._runner is None:  # the SavedModel, as tf_keras: loaded once, on first use
            from android_export.runners import KerasRunner
            self._runner = KerasRunner(self._folder.saved_model)
        return self._runner

    def evaluate(self, image_dir=None, output_dir=None):
        """Scores the model on its held-back test split (or on `image_dir`, one subfolder per label),
        with training's own final evaluation: prints the summary and returns the EvaluationResult
        (.top1, .top5, .map3, .per_class, .confusion, .misclassified).

        Args:
          image_dir: labelled images to score instead of the test split.
          output_dir: where evaluation.json and the pictures go; default a temporary folder, so the
            model folder keeps training's own.

        Raises:
          QdretrainError: no test images (the training data is not on this machine): pass image_dir.
        """
        from retrain.evaluation import test_images
        from retrain.evaluation.final import evaluate_test_set
        items = (test_images.folder_items(os.fspath(image_dir)) if image_dir is not None
                 else test_images.split_items(self.model_dir, "testing"))
        if not items:
            raise QdretrainError(
                f"No test images for {self.model_dir}: " + (f"none under {image_dir}." if image_dir else
                "its splits.json test split is empty or its data is not on this machine.")
                + " Pass image_dir=<folder with one subfolder per label>.")
        records = test_images.records_for(items, self.labels)
        size = self._folder.size[0]
        with tempfile.TemporaryDirectory() as scratch:
            out = os.fspath(output_dir) if output_dir is not None else scratch
            os.makedirs(out, exist_ok=True)
            return evaluate_test_set(self._reference().model, records, self.labels, size,
                                     self._folder.family, out, echo, panel=False)

    def predict(self, inputs, top_k: int = 3) -> list:
        """Classifies images or drawings, as `qdretrain label_image` does (the same pixels an app sends).

        Args:
          inputs: one input or a list of them; an input is an image file path, an image array
            ([H, W], [H, W, 3] or a [N, H, W(, 3)] batch, pixels 0-255, any size), or a drawing's
            strokes in Quick, Draw!'s simplified format ([[xs, ys], [xs, ys], ...], 0-255).
          top_k: how many (label, score) pairs each Prediction keeps.

        Returns:
          A list of Prediction, one per input, in order.
        """
        from android_export.label_image import InputContract, classify_inputs, drawing_pixels
        height, width = self._folder.size
        mean, std = self._folder.mean_std
        contract = InputContract(height, width, mean, std)
        drawing_contract = self.info.get("drawing_contract")
        loaders = []
        for index, item in enumerate(_as_list(inputs)):
            if isinstance(item, (str, os.PathLike)):
                from retrain.evaluation.test_images import load_pixels
                path = os.fspath(item)
                loaders.append((path, lambda p=path: load_pixels(p, height, width)))
            elif isinstance(item, np.ndarray):
                loaders.append((f"array {index}", lambda a=item: _resized(a, height, width)))
            else:
                drawing = _Strokes(_strokes(item))
                loaders.append((f"drawing {index}", lambda d=drawing: drawing_pixels(d, contract, drawing_contract)))
        answers = classify_inputs(self._reference(), loaders, self.labels, contract, top_k)
        return [Prediction(a.path, a.top[0][0], a.top[0][1], a.top) for a in answers]

    def export(self, formats: Sequence[str] = ("tflite",), **options):
        """Exports and verifies, as `qdretrain export --model_dir <model_dir> --formats ...` does.

        Args:
          formats: any of tflite, tflite_fp16, tflite_dynamic, tflite_int8, onnx (a list or
            "tflite,onnx"); the frozen graph and SavedModel training wrote are always checked too.
          **options: `qdretrain export`'s other options by Python name (e.g. tolerance, test_dir).

        Returns:
          The ExportReport (.artifacts: format -> path, .checks, .reference_accuracy).
        """
        from android_export.exporter import export_model_dir
        from retrain.families.options import parse_export_formats
        return export_model_dir(self.model_dir, formats=parse_export_formats(formats), **options)


@dataclasses.dataclass(frozen=True)
class _Strokes:
    strokes: tuple


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating))


def _depth(value) -> int:
    """How deep the first number sits: a drawing's strokes are 3 deep ([stroke][xs/ys][point])."""
    depth = 0
    while isinstance(value, (list, tuple)) and value:
        value, depth = value[0], depth + 1
    return depth if _is_number(value) else -1


def _as_list(inputs) -> list:
    if isinstance(inputs, (str, os.PathLike)) or hasattr(inputs, "strokes"):
        return [inputs]
    if isinstance(inputs, np.ndarray):
        return list(inputs) if inputs.ndim == 4 else [inputs]
    if isinstance(inputs, (list, tuple)):
        if _depth(inputs) == 3:  # one drawing
            return [inputs]
        return list(inputs)
    raise QdretrainError(f"predict() takes image paths, image arrays or strokes, not {type(inputs).__name__}.")


def _strokes(item) -> tuple:
    if hasattr(item, "strokes"):  # a convert.sources.Drawing
        return tuple(item.strokes)
    if _depth(item) != 3:
        raise QdretrainError("A drawing is a list of strokes, each [xs, ys] (Quick, Draw!'s simplified "
                             "format, 0-255); got something else.")
    return tuple((tuple(stroke[0]), tuple(stroke[1])) for stroke in item)


def _resized(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """An image array (0-255, gray or RGB) -> float32 [height, width, 3], resized as images are."""
    pixels = np.asarray(array, np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[-1] not in (1, 3, 4):
        raise QdretrainError(f"An image array is [H, W], [H, W, 3] or [H, W, 4]; got shape {array.shape}.")
    pixels = pixels[..., :3] if pixels.shape[-1] == 4 else pixels
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    if pixels.shape[:2] != (height, width):
        from common.tfcompat import tf
        pixels = np.clip(tf.image.resize(pixels, [height, width], method="bilinear").numpy(), 0, 255)
    return pixels
