"""`qdretrain export`: every artifact from a model dir, each run by its own runtime and checked.

Reads <model_dir>/saved_model (the trained tf_keras classifier), retrained_labels.txt, model_info.json
and splits.json; writes into the output dir (the model dir by default):
  model.tflite, model_fp16.tflite, model_dynamic.tflite, model_int8.tflite   (with Task Library metadata)
  model.onnx, retrained_graph.pb + retrained_labels.txt, saved_model/
  export_report.json (verification + quantization report), model_info.json (+ "exports" section).
Then runs each artifact on the held-back test images and fails loudly if a float one disagrees.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from typing import Callable, Optional

import numpy as np

from android_export import verify
from common.errors import ConfigError, ExportVerificationError, QdretrainError

# --export / --formats names. frozen_graph and saved_model are also written by training.
TFLITE_FORMATS = {"tflite": ("model.tflite", "float32"), "tflite_fp16": ("model_fp16.tflite", "float16"),
                  "tflite_dynamic": ("model_dynamic.tflite", "dynamic"),
                  "tflite_int8": ("model_int8.tflite", "int8")}
FORMATS = (*TFLITE_FORMATS, "onnx", "frozen_graph", "saved_model")
ONNX_FILE = "model.onnx"
ONNX_OPSETS = (9, 18)  # what tf2onnx 1.17 converts
GRAPH_FILE = "retrained_graph.pb"
SAVED_MODEL_DIR = "saved_model"
REPORT_FILE = "export_report.json"
WEB_FORMAT = "web"  # not an artifact: a static page around model.tflite (android_export/web_export.py)
RUNTIMES = {"tflite": "LiteRT interpreter", "onnx": "onnxruntime", "frozen_graph": "TF1 Session",
            "saved_model": "SavedModel signature"}


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Options of one export.

    Attributes:
      model_dir: the training output (saved_model/, retrained_labels.txt, model_info.json, splits.json).
      output_dir: where artifacts go; None: the model dir.
      formats: subset of FORMATS.
      opset: ONNX opset.
      calibration_dir: images for int8 calibration when the model dir's training images are not here.
      calibration_images: how many images calibrate int8 (the converter's default practice is ~100-500).
      test_dir: labelled images (one sub-folder per label) to verify on when the test split is not here.
      max_test_images: cap on verification images (keeps the export quick on big test sets).
      tolerance: max |probability difference| allowed for float artifacts.
      seed: picks which images when capping.
    """

    model_dir: str
    output_dir: Optional[str] = None
    formats: tuple = FORMATS
    opset: int = 15
    calibration_dir: Optional[str] = None
    calibration_images: int = 200
    test_dir: Optional[str] = None
    max_test_images: int = 500
    tolerance: float = verify.DEFAULT_TOLERANCE
    seed: int = 0
    embedding: bool = False  # also embedding.tflite for on-device search (embedding_export.py)

    def __post_init__(self):
        unknown = [f for f in self.formats if f not in FORMATS + (WEB_FORMAT,)]
        if unknown or not self.formats:
            raise ConfigError(f"Unknown export format(s) {', '.join(unknown) or '(none given)'}; choose from "
                              f"{', '.join(FORMATS)}.")
        if not ONNX_OPSETS[0] <= self.opset <= ONNX_OPSETS[1]:
            raise ConfigError(f"--opset {self.opset}: tf2onnx 1.17 converts opsets {ONNX_OPSETS[0]} to "
                              f"{ONNX_OPSETS[1]} (default 15).")
        if self.calibration_images < 1 or self.max_test_images < 1 or self.tolerance <= 0:
            raise ConfigError("--calibration_images and --max_test_images must be at least 1, --tolerance > 0.")

    @property
    def out(self) -> str:
        return self.output_dir or self.model_dir


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how each artifact checked out."""

    output_dir: str
    artifacts: dict
    checks: tuple
    reference_accuracy: Optional[float]
    test_images: int
    test_source: str
    quantization: list


@dataclasses.dataclass(frozen=True)
class ModelDir:
    """A training output dir, read."""

    path: str
    info: dict
    labels: tuple
    saved_model: str

    @property
    def size(self) -> tuple[int, int]:
        return int(self.info["input_height"]), int(self.info["input_width"])

    @property
    def mean_std(self) -> tuple[float, float]:
        return float(self.info["input_mean"]), float(self.info["input_std"])

    @property
    def family(self) -> str:
        """How its test images become inputs (retrain/evaluation/test_images.model_inputs)."""
        return self.info.get("family", "tfhub_head")

    @property
    def output_name(self) -> str:
        return self.info.get("output_tensor", "final_result")


def read_model_dir(model_dir: str) -> ModelDir:
    """Reads and checks a training output dir (or finds it from a folder the run wrote a copy to).

    Raises:
      QdretrainError: a required file is missing; the message says which and how to get it.
    """
    from retrain.model_folder import contract as outputs
    from retrain.model_folder.locate import locate_model_dir
    # Any folder the run wrote to will do: the output dir, a --saved_model_dir copy, a graph's folder.
    model_dir = locate_model_dir(model_dir)
    info = outputs.read_model_info(model_dir)  # one line on anything no model can have (input_width -5)
    labels_path = os.path.join(model_dir, outputs.LABELS_FILE)
    labels = tuple(outputs.read_labels(labels_path))
    problem = outputs.labels_problem(info, labels, labels_path)
    if problem:
        raise QdretrainError(problem)
    return ModelDir(path=model_dir, info=info, labels=labels,
                    saved_model=os.path.join(model_dir, SAVED_MODEL_DIR))


def _echo(message: str) -> None:
    import click
    click.echo(message)


def _status(message: str) -> None:
    """A progress line on stderr (stdout keeps the results: the table, the paths written)."""
    from common.progress import echo
    echo(message)


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(r, f)) for r, _, files in os.walk(path) for f in files)
    return os.path.getsize(path)


def _items(model: ModelDir, folder: Optional[str], option: str, split: str, split_source: str):
    """(items, where they came from): an explicit folder option wins over the run's own split."""
    from retrain.evaluation import test_images as images
    if folder:
        return images.folder_items(folder), f"{option} {folder}"
    return images.split_items(model.path, split), split_source


def test_images(model: ModelDir, config: ExportConfig):
    """The verification images: --test_dir, else the test split, else random inputs (with a warning).

    Returns:
      (LabelledImages, description of where they came from).
    """
    from retrain.evaluation import test_images as images
    height, width = model.size
    mean, std = model.mean_std
    items, source = _items(model, config.test_dir, "--test_dir", "testing", "the test split in splits.json")
    if items:
        _status(f"Loading up to {config.max_test_images} verification images ({source})...")
        data = images.load_items(items, model.labels, height, width, mean, std, config.max_test_images, config.seed,
                                 family=model.family)
        return data, source
    _echo("WARNING: no held-back test images found (no splits.json test split on this machine, no "
          "--test_dir): checking on 32 random images, so agreement is measured but not accuracy. Pass "
          "--test_dir <folder of labelled images> for a real check.")
    rng = np.random.default_rng(config.seed)
    random = rng.uniform(-1, 1, size=(32, height, width, 3)).astype(np.float32)
    return images.LabelledImages(tuple(f"random_{i}" for i in range(32)), random,
                                 np.full(32, -1, np.int64)), "random inputs"


def calibration_images(model: ModelDir, config: ExportConfig) -> Callable:
    """A callable yielding int8 calibration images: --calibration_dir, else the training images.

    Raises:
      QdretrainError: neither is available.
    """
    from retrain.evaluation import test_images as images
    height, width = model.size
    mean, std = model.mean_std
    items, source = _items(model, config.calibration_dir, "--calibration_dir", "training", "training images")
    if items:  # decoding a few hundred images takes seconds: say so before, not after
        _status(f"Loading up to {config.calibration_images} {source} for int8 calibration...")
    if not items:
        raise QdretrainError(
            "int8 export needs real images to calibrate on: the training images listed in splits.json are "
            "not on this machine. Pass --calibration_dir <folder of a few hundred typical images>, or leave "
            "tflite_int8 out of --formats.")
    data = images.load_items(items, model.labels, height, width, mean, std, config.calibration_images,
                             config.seed, family=model.family)
    _echo(f"Calibrating int8 on {len(data)} {source}.")
    if len(data) < 50:
        _echo(f"WARNING: only {len(data)} calibration images; int8 accuracy may suffer (a few hundred "
              f"typical images are best).")
    return lambda: iter(data.images)


def _tflite_metadata_info(model: ModelDir):
    from android_export.tflite_metadata import ClassifierMetadata
    mean, std = model.mean_std
    return ClassifierMetadata(
        name=f"qdretrain {model.info.get('architecture', 'classifier')}",
        description=(f"Classifies an RGB image into {len(model.labels)} classes; retrained with qdretrain on "
                     f"the {model.info.get('architecture', '')} backbone."),
        labels=model.labels, input_mean=mean, input_std=std,
        license="Apache-2.0 (model code). Quick, Draw! data: CC BY 4.0, Google.",
        output_name=model.output_name)


def _write_tflite(keras_model, model: ModelDir, precision: str, path: str, calibration) -> None:
    from android_export import tflite_convert, tflite_metadata
    from retrain.model_folder.contract import atomic_write_bytes
    data = tflite_convert.convert(keras_model, precision, calibration, work_dir=os.path.dirname(path))
    atomic_write_bytes(path, tflite_metadata.add_metadata(data, _tflite_metadata_info(model)))


def write_artifacts(keras_model, model: ModelDir, config: ExportConfig) -> dict:
    """Converts and writes every requested format. Returns {format: path}."""
    from common.progress import progress_bar

    from retrain.model_folder import frozen_graph, saved_model
    from retrain.model_folder import contract as outputs
    out = config.out
    os.makedirs(out, exist_ok=True)
    artifacts = {}
    calibration = calibration_images(model, config) if "tflite_int8" in config.formats else None
    for name in progress_bar(iterable=config.formats, desc="Exporting", unit="format"):
        if name in TFLITE_FORMATS:
            file_name, precision = TFLITE_FORMATS[name]
            path = os.path.join(out, file_name)
            _write_tflite(keras_model, model, precision, path, calibration)
        elif name == "onnx":
            from android_export.onnx_export import graph_def_to_onnx
            path = os.path.join(out, ONNX_FILE)
            graph_def = frozen_graph.freeze_model(keras_model, model.output_name)
            outputs.atomic_write_bytes(path, graph_def_to_onnx(graph_def, model.output_name, config.opset))
        elif name == "frozen_graph":
            path = os.path.join(out, GRAPH_FILE)
            # Training already wrote it into the model dir; anywhere else, always write a fresh one
            # (an older model's graph or labels there must never be verified or shipped instead).
            in_model_dir = os.path.abspath(out) == os.path.abspath(model.path)
            if not in_model_dir or not os.path.exists(path):
                frozen_graph.write_frozen_graph(keras_model, path, model.output_name)
            if not in_model_dir or not os.path.exists(os.path.join(out, outputs.LABELS_FILE)):
                outputs.write_labels(model.labels, os.path.join(out, outputs.LABELS_FILE))
        else:  # saved_model
            path = os.path.join(out, SAVED_MODEL_DIR)
            if os.path.abspath(path) != os.path.abspath(model.saved_model):
                saved_model.save_serving_model(keras_model, path)
        artifacts[name] = path
    return artifacts


def runner_for(name: str, path: str, output_name: str = "final_result"):
    """The runtime that checks one format (see android_export/runners.py)."""
    from android_export import runners
    if name in TFLITE_FORMATS:
        return runners.TFLiteRunner(path)
    if name == "onnx":
        return runners.OnnxRunner(path)
    if name == "frozen_graph":
        return runners.FrozenGraphRunner(path, "input", output_name)
    return runners.SavedModelRunner(path)


def verify_artifacts(artifacts: dict, reference_scores: np.ndarray, data, tolerance: float,
                     output_name: str = "final_result") -> list:
    """Runs every artifact on `data` with its own runtime and compares it with `reference_scores`.

    Args:
      artifacts: {format name: path}.
      reference_scores: the trained model's scores on data.images.
      data: LabelledImages.
      tolerance: for float artifacts.
      output_name: the frozen graph's output node.

    Returns:
      One ArtifactCheck per artifact (does not raise on a mismatch; see `raise_if_failed`).
    """
    checks = []
    for name, path in artifacts.items():
        precision = TFLITE_FORMATS[name][1] if name in TFLITE_FORMATS else "float32"
        kind = "tflite" if name in TFLITE_FORMATS else name
        _status(f"  verifying {os.path.basename(path)} with {RUNTIMES[kind]}...")
        try:
            scores = runner_for(name, path, output_name).predict_in_batches(data.images)
            checks.append(verify.check(name, path, RUNTIMES[kind], precision, _size(path), reference_scores,
                                       scores, data.label_indices if data.has_labels else None, tolerance))
        except Exception as error:  # an artifact its runtime cannot load or run fails its check, loudly
            _echo(f"{name}: {RUNTIMES[kind]} could not run {path} ({type(error).__name__}: {error})")
            checks.append(verify.ArtifactCheck(
                name=name, path=path, runtime=RUNTIMES[kind], precision=precision, held_to_tolerance=True,
                size_bytes=_size(path) if os.path.exists(path) else 0, max_abs_diff=float("inf"),
                top1_agreement=0.0, accuracy=None, passed=False))
    return checks


def forget_exports(out: str, formats) -> None:
    """Drops model_info.json's "exports" entries for formats about to be re-exported, so an export
    interrupted half-way never leaves a claim that an unverified file was verified."""
    from retrain.model_folder import contract as outputs
    path = os.path.join(out, outputs.MODEL_INFO_FILE)
    if not os.path.exists(path):
        return
    info = outputs.read_json(path)
    exports = info.get("exports", {})
    if any(name in exports for name in formats):
        info["exports"] = {k: v for k, v in exports.items() if k not in formats}
        outputs.write_json(info, path)


def raise_if_failed(checks, tolerance: float) -> None:
    """Moves failed float artifacts aside (*.failed) and raises ExportVerificationError naming them."""
    failed = verify.failures(checks)
    if not failed:
        return
    for c in failed:
        # A SavedModel is the export's source and never ships to a phone: it stays in place.
        if os.path.exists(c.path) and c.name != "saved_model":
            aside = c.path + ".failed"
            if os.path.isdir(aside):
                shutil.rmtree(aside)
            os.replace(c.path, aside)
    raise ExportVerificationError(verify.failure_message(failed, tolerance))


def _tflite_io(path: str) -> dict:
    from android_export.runners import TFLiteRunner
    runner = TFLiteRunner(path)
    entry = {"input_dtype": np.dtype(runner.input["dtype"]).name,
             "output_dtype": np.dtype(runner.output["dtype"]).name,
             "input_shape": [int(d) for d in runner.input["shape"]]}
    if runner.quantized_input:
        scale, zero_point = runner.input["quantization"]
        out_scale, out_zero = runner.output["quantization"]
        entry.update(input_scale=float(scale), input_zero_point=int(zero_point),
                     output_scale=float(out_scale), output_zero_point=int(out_zero))
    return entry


def _min_runtime_versions(path: str) -> dict:
    """{runtime: oldest checked version the .tflite runs in, None: none} (android_export/runtime_compat.py)."""
    from android_export import runtime_compat
    with open(path, "rb") as handle:
        return runtime_compat.min_versions(handle.read())


def _say_runtime_gaps(artifacts: dict) -> None:
    """One line per .tflite that a runtime apps link cannot run (runtime_compat.py says which and why)."""
    from android_export import runtime_compat
    for name, path in artifacts.items():
        if name in TFLITE_FORMATS and os.path.exists(path):
            with open(path, "rb") as handle:
                line = runtime_compat.cannot_run_line(os.path.basename(path), handle.read())
            if line:
                _echo(line)


def write_report(report: ExportReport, model: ModelDir, config: ExportConfig) -> None:
    """export_report.json, and an "exports" section in the output dir's model_info.json."""
    from retrain.model_folder import contract as outputs
    outputs.write_json({
        "output_dir": report.output_dir, "test_images": report.test_images, "test_source": report.test_source,
        "reference_accuracy": report.reference_accuracy, "tolerance": config.tolerance,
        "checks": [dataclasses.asdict(c) for c in report.checks], "quantization": report.quantization,
    }, os.path.join(config.out, REPORT_FILE))
    info = dict(model.info)
    # Entries for the formats just exported are replaced by this run's results, failures dropped.
    exports = {k: v for k, v in info.get("exports", {}).items() if k not in report.artifacts}
    for c in report.checks:
        if not c.passed:
            continue
        # The run id and sha256 tie the file to this model: serve, label_image and android refuse it
        # once the folder is retrained or the file changes (retrain/model_folder/contract.py).
        entry = outputs.export_entry(info, c.path, precision=c.precision, accuracy=c.accuracy,
                                     top1_agreement=c.top1_agreement, max_abs_diff=c.max_abs_diff)
        if c.name in TFLITE_FORMATS:
            entry.update(_tflite_io(c.path))
            entry["min_runtime_versions"] = _min_runtime_versions(c.path)
        exports[c.name] = entry
    info["exports"] = exports
    outputs.write_json(info, os.path.join(config.out, outputs.MODEL_INFO_FILE))


def run_export(config: ExportConfig) -> ExportReport:
    """Exports, verifies and reports (see the module docstring).

    Raises:
      QdretrainError: bad model dir, missing calibration images, missing ONNX packages.
      ExportVerificationError: a float artifact disagrees with the trained model (after the report is
        written, with the artifact moved to *.failed).
    """
    from android_export.runners import KerasRunner
    from android_export.tflite_convert import clean_stale_work_dirs
    start = time.time()
    web = WEB_FORMAT in config.formats
    if web:  # the page runs model.tflite: export and verify it in this run; check LiteRT.js first
        from android_export.web_export import runtime_files
        runtime_files()
        config = dataclasses.replace(config, formats=tuple(dict.fromkeys(
            f for f in config.formats + ("tflite",) if f != WEB_FORMAT)))
    model = read_model_dir(config.model_dir)
    config = dataclasses.replace(config, model_dir=model.path)  # the folder found, not the one given
    from common.writable import check_writable, write_errors
    # A read-only or full --output_dir is one line now, not a traceback after the conversions.
    check_writable(config.out, "--output_dir")
    clean_stale_work_dirs(config.out)  # what a killed export's converter left behind
    if "onnx" in config.formats:  # fail before the slow conversions, not after
        from android_export.onnx_export import require_onnx
        for package in ("tf2onnx", "onnx", "onnxruntime"):
            require_onnx(package)
    _status(f"Exporting {', '.join(config.formats)} from {model.path}: loading the trained model...")
    try:
        reference = KerasRunner(model.saved_model)
    except ConfigError:
        raise  # e.g. refused as untrusted (retrain/model_folder/safety.py): its own message says what to do
    except Exception as error:
        raise QdretrainError(f"Cannot load the trained model in {model.saved_model} ({type(error).__name__}: "
                             f"{error}). It is damaged or incomplete: re-run training.") from None
    forget_exports(config.out, config.formats)
    model = dataclasses.replace(model, info={**model.info, "exports": {
        k: v for k, v in model.info.get("exports", {}).items() if k not in config.formats}})
    with write_errors(config.out, "--output_dir"):
        artifacts = write_artifacts(reference.model, model, config)
    data, source = test_images(model, config)
    _status(f"Verifying: scoring {len(data)} images ({source}) with the trained model, then with each artifact...")
    reference_scores = reference.predict_in_batches(data.images)
    _, _, reference_accuracy = verify.compare(reference_scores, reference_scores,
                                              data.label_indices if data.has_labels else None)
    checks = verify_artifacts(artifacts, reference_scores, data, config.tolerance, model.output_name)
    report = ExportReport(output_dir=config.out, artifacts=artifacts, checks=tuple(checks),
                          reference_accuracy=reference_accuracy, test_images=len(data), test_source=source,
                          quantization=verify.quantization_report(checks))
    with write_errors(config.out, "--output_dir"):
        write_report(report, model, config)
    _echo(verify.format_table(checks, reference_accuracy, len(data)) + f"  (images: {source})")
    if len(report.quantization) > 1:
        _echo(verify.format_quantization_report(report.quantization))
        for line in verify.quantization_warnings(report.quantization):
            _echo(line)
    _say_runtime_gaps(artifacts)
    with write_errors(config.out, "--output_dir"):
        _export_panels(model, artifacts, config)
    raise_if_failed(checks, config.tolerance)
    if web:
        from android_export.web_export import write_web_folder
        write_web_folder(config.out, model.info, model.labels, artifacts["tflite"], echo=_echo)
    if config.embedding:
        from android_export.embedding_export import export_embedding
        export_embedding(config.model_dir, config.out, echo=_echo)
    _echo(f"Exported and verified {len(checks)} artifact(s) into {config.out} in {time.time() - start:.0f}s.")
    return report


def _export_panels(model: ModelDir, artifacts: dict, config: ExportConfig) -> None:
    """The rendering panel (retrain/evaluation/panel.py) on each TFLite artifact: what int8 does to thin strokes."""
    from retrain.model_folder import contract as outputs
    from retrain.evaluation import panel
    tflite = {name: runner_for(name, path) for name, path in artifacts.items() if name in TFLITE_FORMATS}
    panels = panel.export_panels(model.path, model.labels, model.size[0], tflite, config.max_test_images,
                                 echo=_status)
    if not panels:
        return
    for name, result in panels.items():
        worst = result["worst"]
        _echo(f"Rendering panel {name}: " + ", ".join(
            f"{row} {100 * v['top1']:.1f}%" for row, v in result["rows"].items() if v["top1"] is not None)
            + (f"; worst {worst['name']} {100 * worst['top1']:.1f}%" if worst else ""))
    path = os.path.join(config.out, REPORT_FILE)
    outputs.write_json({**outputs.read_json(path), "rendering_panels": panels}, path)


def export_model_dir(model_dir: str, formats=FORMATS, **options) -> ExportReport:
    """`run_export` with keyword options (what `qdretrain train --export` calls)."""
    formats = tuple(formats)
    # --export lists only the extra formats; the graph and SavedModel training wrote are always checked.
    for always in ("frozen_graph", "saved_model"):
        if always not in formats:
            formats += (always,)
    return run_export(ExportConfig(model_dir=model_dir, formats=formats, **options))
