"""`qdretrain label_image`: classify images with any artifact and print the top-k labels.

Works on qdretrain's exports and on graphs made by the original retrain.py (`--input_layer`,
`--output_layer`, `--input_mean`, `--input_std`, `--input_height`, `--input_width` as its label_image.py
took them). Where a flag is not given, the value comes from, in order: a model_info.json beside the
artifact, the TFLite metadata, the artifact's own input shape, then TensorFlow-for-Poets' defaults
(224 x 224, mean 128, std 128).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Optional, Sequence

import click
import numpy as np

from common.errors import QdretrainError

POETS_DEFAULTS = {"input_height": 224, "input_width": 224, "input_mean": 128.0, "input_std": 128.0}
LABEL_FILES = ("retrained_labels.txt", "labels.txt", "output_labels.txt")


@dataclasses.dataclass(frozen=True)
class InputContract:
    """How to turn an image into the artifact's input: resize to height x width, (pixel - mean) / std."""

    height: int
    width: int
    mean: float
    std: float
    # Where each value came from, e.g. {"size": "model_info.json (/m/model_info.json)", ...}.
    sources: tuple = dataclasses.field(default=(), compare=False)

    def describe(self) -> str:
        """One line: the contract and where it came from (a default is said to be one)."""
        # One mention per place: "size, mean and std from model_info.json (/m/model_info.json)", not
        # the same path three times.
        keys_of: dict = {}
        for key, where in self.sources:
            keys_of.setdefault(where, []).append(key)
        origin = "; ".join(f"{' and '.join(keys) if len(keys) < 3 else ', '.join(keys[:-1]) + ' and ' + keys[-1]} "
                           f"from {where}" for where, keys in keys_of.items())
        return (f"Input contract: {self.height}x{self.width}, (pixel - {self.mean:g}) / {self.std:g}"
                + (f" ({origin})" if origin else ""))


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One image's result: the top-k (label, score) pairs and the seconds the artifact took on it."""

    path: str
    top: tuple
    seconds: float


def _beside(artifact: str, name: str) -> Optional[str]:
    folder = artifact if os.path.isdir(artifact) else os.path.dirname(os.path.abspath(artifact))
    for candidate in (os.path.join(folder, name), os.path.join(os.path.dirname(folder), name)):
        if os.path.exists(candidate):
            return candidate
    return None


def _tflite_metadata(artifact: str) -> Optional[dict]:
    if not artifact.endswith(".tflite"):
        return None
    from android_export.tflite_metadata import read_metadata
    with open(artifact, "rb") as handle:
        try:
            return read_metadata(handle.read())
        except Exception:  # a foreign .tflite with other or broken metadata: fall back to flags/defaults
            return None


def resolve_contract(artifact: str, runner, input_height=None, input_width=None, input_mean=None,
                     input_std=None) -> InputContract:
    """The input contract, from flags first, then files beside the artifact (see the module docstring)."""
    from retrain.model_folder import contract as outputs
    values = {"input_height": input_height, "input_width": input_width, "input_mean": input_mean,
              "input_std": input_std}
    info_path = _beside(artifact, outputs.MODEL_INFO_FILE)
    info = outputs.read_model_info(info_path, required=False) if info_path else {}
    meta = _tflite_metadata(artifact) or {}
    info_name = f"{outputs.MODEL_INFO_FILE} ({info_path})"
    candidates = {  # key -> [(value, where)], best first
        "input_height": [(info.get("input_height"), info_name), (runner.input_height, "the artifact's input shape")],
        "input_width": [(info.get("input_width"), info_name), (runner.input_width, "the artifact's input shape")],
        "input_mean": [(info.get("input_mean"), info_name),
                       ((meta.get("input_mean") or [None])[0], "the TFLite metadata")],
        "input_std": [(info.get("input_std"), info_name), ((meta.get("input_std") or [None])[0], "the TFLite metadata")],
    }
    where = {}
    for key, value in values.items():
        if value is not None:
            where[key] = "the command line"
            continue
        value, origin = next(((v, o) for v, o in candidates[key] if v is not None), (None, None))
        if value is None:
            value, origin = POETS_DEFAULTS[key], "TensorFlow-for-Poets' default (nothing beside the model says)"
        values[key], where[key] = value, origin
    sources = (("size", where["input_height"]), ("mean", where["input_mean"]), ("std", where["input_std"]))
    values = {"input_height": int(values["input_height"]), "input_width": int(values["input_width"]),
              "input_mean": float(values["input_mean"]), "input_std": float(values["input_std"])}
    problem = outputs.model_info_problem(values)  # the same rule for flags as for model_info.json
    if problem:
        key = problem.split()[0]
        raise QdretrainError(f"The input contract is unusable: {problem} (from {where.get(key, 'the flags')}).")
    return InputContract(values["input_height"], values["input_width"], values["input_mean"],
                         values["input_std"], sources)


def resolve_labels(artifact: str, labels_path: Optional[str]) -> list[str]:
    """Labels from --labels, else a labels file beside the artifact, else the TFLite metadata.

    Raises:
      QdretrainError: none found.
    """
    from retrain.model_folder import contract as outputs
    if labels_path:
        return outputs.read_labels(labels_path)
    # The artifact's own folder first, then its embedded labels, and only then the parent folder:
    # app/model.tflite must not take ../retrained_labels.txt over app/labels.txt.
    folder = artifact if os.path.isdir(artifact) else os.path.dirname(os.path.abspath(artifact))
    for name in LABEL_FILES:
        if os.path.exists(os.path.join(folder, name)):
            return outputs.read_labels(os.path.join(folder, name))
    meta = _tflite_metadata(artifact)
    if meta and meta.get("labels"):
        return list(meta["labels"])
    for name in LABEL_FILES:
        found = _beside(artifact, name)
        if found:
            return outputs.read_labels(found)
    raise QdretrainError(f"No labels file found beside {artifact}. Pass --labels retrained_labels.txt.")


def image_paths(image: Optional[str], image_dir: Optional[str]) -> list[str]:
    """The images to classify: one file, or every image under a folder.

    Raises:
      QdretrainError: neither given, or the folder holds no images.
    """
    from retrain.evaluation.test_images import list_image_files
    if bool(image) == bool(image_dir):
        raise QdretrainError("Pass exactly one of --image (a file) or --image_dir (a folder of images).")
    if image:
        return [image]
    paths = list_image_files(image_dir)
    if not paths:
        raise QdretrainError(f"No .jpg/.jpeg/.png/.bmp/.gif images under {image_dir}.")
    return paths


def classify(runner, paths: Sequence[str], labels: Sequence[str], contract: InputContract,
             top_k: int = 5) -> list[Prediction]:
    """Runs the artifact on each image, one at a time (as an app would), timing only the model.

    Raises:
      QdretrainError: the artifact's output width does not match the number of labels.
    """
    from retrain.evaluation.test_images import load_pixels
    return classify_inputs(runner, [(p, functools.partial(load_pixels, p, contract.height, contract.width))
                                    for p in paths], labels, contract, top_k)


def stroke_drawings(spec: str, limit: int) -> list[tuple[str, object]]:
    """`FILE[:N]` -> [(name, convert.sources.Drawing)]: the N-th drawing (from 1) of a QuickDraw .ndjson
    or Kaggle .csv file, or its first `limit` drawings. Lines that do not parse are skipped and counted.

    Raises:
      QdretrainError: unreadable file, N out of range or N's line unparsable, or no drawing at all.
    """
    from convert.sources import SourceError, numbered_drawings, split_strokes_spec
    try:
        path, number = split_strokes_spec(spec)
        found, bad, _ = numbered_drawings(path, number, limit)
    except SourceError as error:
        text = str(error)
        prefix = "" if text.startswith("--strokes") else f"--strokes {spec}: "
        raise QdretrainError(f"{prefix}{text} Pass a QuickDraw .ndjson or Kaggle .csv file, optionally "
                             f":N for its N-th drawing.") from None
    if bad:
        click.echo(f"skipped {bad} line(s) of {path} that do not parse", err=True)
    return [(f"{os.path.basename(path)}:{n} ({drawing.key_id})", drawing) for n, drawing in found]


def drawing_pixels(drawing, contract: InputContract, drawing_contract: Optional[dict]) -> np.ndarray:
    """A drawing's strokes -> float32 RGB pixels [H, W, 3] in [0, 255], drawn by the model's own drawing
    contract (model_info.json's, convert/drawing.py) as an app using DrawingRenderer.kt draws them."""
    from retrain.data.stroke_rendering import render_drawing
    gray = render_drawing([list(map(list, stroke)) for stroke in drawing.strokes], contract.height,
                          contract.width, drawing_contract)
    return np.repeat(gray[..., None].astype(np.float32), 3, axis=-1)


def drawing_contract_of(artifact: str) -> Optional[dict]:
    """The drawing contract model_info.json beside the artifact states (None: the default look)."""
    from retrain.model_folder import contract as outputs
    path = _beside(artifact, outputs.MODEL_INFO_FILE)
    return outputs.read_json(path).get("drawing_contract") if path else None


def classify_inputs(runner, inputs: Sequence, labels: Sequence[str], contract: InputContract,
                    top_k: int = 5) -> list[Prediction]:
    """`classify` for [(name, pixels loader)] pairs: images or rendered drawings alike."""
    predictions = []
    for path, load in inputs:
        try:
            pixels = load()
        except QdretrainError as error:
            if len(inputs) == 1:
                raise
            click.echo(f"skipped: {error}", err=True)  # one bad file must not stop a folder
            continue
        batch = ((pixels - contract.mean) / contract.std)[None]
        start = time.perf_counter()
        scores = runner.predict(batch.astype(np.float32))[0]
        seconds = time.perf_counter() - start
        if scores.shape[-1] != len(labels):
            raise QdretrainError(f"The artifact outputs {scores.shape[-1]} scores but there are {len(labels)} "
                                 f"labels: wrong --labels or --output_layer?")
        order = np.argsort(-scores)[:top_k]
        predictions.append(Prediction(path, tuple((labels[i], float(scores[i])) for i in order), seconds))
    return predictions


def format_predictions(predictions: Sequence[Prediction]) -> str:
    lines = []
    for p in predictions:
        lines.append(f"{p.path}  ({1000 * p.seconds:.1f} ms)")
        lines += [f"  {label} (score={score:.5f})" for label, score in p.top]
    if len(predictions) > 1:
        # The first call includes one-off setup (allocation, kernel selection); report it apart.
        times = [p.seconds for p in predictions[1:]]
        lines.append(f"{len(predictions)} images; {1000 * np.mean(times):.1f} ms per image after the first "
                     f"({1000 * predictions[0].seconds:.1f} ms).")
    return "\n".join(lines)
