"""Small writers shared by training and export: labels.txt, model_info.json, the run config.

Every file is written to a temporary name and renamed, so an interrupted run never leaves a
half-written output that a later step (or an Android app) would read.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional

from common.atomic import atomic_write_bytes, read_json, write_json  # noqa: F401 (the folder's writers)
from retrain.data.images import INPUT_MEAN, INPUT_STD

MODEL_INFO_FILE = "model_info.json"
RUN_CONFIG_FILE = "run_config.json"
LABELS_FILE = "retrained_labels.txt"
SPLITS_FILE = "splits.json"
MODEL_INFO_VERSION = 1
# model_info.json's key for the id of the training run that made the folder; every artifact exported
# from it records the same id (and its own sha256) under "exports", so a file left by another run, or
# damaged since, is recognised wherever a command picks it up.
RUN_ID = "run_id"
# Files an export writes into a model folder (besides the entries it records under "exports").
EXPORT_REPORT_FILE = "export_report.json"
# Other files an export may add (the embedding model and its report).
EXPORT_SIDE_FILES = ("embedding.tflite", "embedding_export.json")
# Folders an export writes whole (the static web page, android_export/web_export.py); each holds a
# model.json naming the run it was made from.
EXPORT_FOLDERS = ("web",)


def write_labels(labels: Iterable[str], path: str) -> None:
    """The one function that writes a labels file: one label per line, in model output order."""
    labels = list(labels)
    for label in labels:
        if "\n" in label or "\r" in label:
            raise ValueError(f"label {label!r} contains a line break; it cannot go in a labels file")
    atomic_write_bytes(path, ("\n".join(labels) + "\n").encode("utf-8"))


def read_labels(path: str) -> list[str]:
    """Reads a labels file written by `write_labels` (or by retrain.py)."""
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\r\n") for line in handle if line.strip()]


def portable_handle(handle: str) -> str:
    """A module handle fit to leave the machine: a URL as it is, a local folder by its name only.

    model_info.json travels into app bundles and `serve`'s GET /model; a path like /home/<user>/...
    says nothing useful there and tells strangers how a machine is laid out.
    """
    if not handle or "://" in handle or handle.startswith("native:"):
        return handle
    return os.path.basename(os.path.normpath(handle))


def model_info(spec, labels: list[str], module_handle: str = "", module_fingerprint: str = "",
               quantization: str = "none", labels_file: str = LABELS_FILE) -> dict[str, Any]:
    """The input contract of every float artifact, as written to model_info.json."""
    return {
        "format_version": MODEL_INFO_VERSION,
        "architecture": spec.name,
        "module_handle": portable_handle(module_handle),
        "module_fingerprint": module_fingerprint,
        "input_height": spec.input_size,
        "input_width": spec.input_size,
        "channels": 3,
        "color_order": "RGB",
        "input_dtype": "float32",
        "input_mean": INPUT_MEAN,
        "input_std": INPUT_STD,
        "normalization": "input = (pixel - input_mean) / input_std, pixel in [0, 255]",
        "input_tensor": "input",
        "output_tensor": "final_result",
        "output": "softmax probabilities, one per line of the labels file, in that order",
        "labels_file": labels_file,
        "label_count": len(labels),
        "quantization": quantization,
    }




# Largest input side a model_info.json may state (the largest TF-Hub backbones take 600).
MAX_INPUT_SIDE = 4096


def model_info_problem(info, required: bool = True) -> Optional[str]:
    """Why a parsed model_info.json cannot be used (a phrase), or None. The one check every reader uses.

    Args:
      info: what the file holds.
      required: the input keys must be present (a training output); False: check only those present
        (a model_info.json beside an artifact from elsewhere, where flags may fill in the rest).
    """
    if not isinstance(info, dict):
        return f"it holds a JSON {type(info).__name__}, not an object"
    for key in ("input_height", "input_width"):
        value = info.get(key)
        if value is None and not required:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INPUT_SIDE:
            return f"{key} is {str(value)[:40]}, not a whole number of pixels from 1 to {MAX_INPUT_SIDE}"
    for key in ("input_mean", "input_std"):
        value = info.get(key)
        if value is None and not required:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
                or value in (float("inf"), float("-inf")) or (key == "input_std" and value <= 0):
            return f"{key} is {str(value)[:40]}, not a finite number" + (" above 0" if key == "input_std" else "")
    count = info.get("label_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        return f"label_count is {str(count)[:40]}, not a whole number from 1"
    return None


def read_model_info(path: str, required: bool = True) -> dict:
    """model_info.json at `path` (the file, or the folder holding it), parsed and checked.

    Raises:
      QdretrainError: unreadable, not JSON, or a value no model can have; one line saying what to do.
    """
    from common.errors import QdretrainError
    if os.path.isdir(path):
        path = os.path.join(path, MODEL_INFO_FILE)
    try:
        info = read_json(path)
    except FileNotFoundError:
        raise QdretrainError(f"{os.path.dirname(os.path.abspath(path))} has no {MODEL_INFO_FILE}: pass the "
                             f"output folder of a `qdretrain train` run.") from None
    except (OSError, ValueError, RecursionError) as error:
        raise QdretrainError(f"{path} cannot be read ({type(error).__name__}: {str(error)[:100]}). Re-run "
                             f"training to write it again.") from None
    problem = model_info_problem(info, required)
    if problem:
        raise QdretrainError(f"{path} is damaged: {problem}. Re-run training to write it again.")
    return info


def labels_problem(info: dict, labels, labels_path: str) -> Optional[str]:
    """Why the labels file does not fit the model of `info` (one line, with what to do), or None."""
    if not labels:
        return f"{labels_path} holds no labels. Re-run training (or `qdretrain export`) to write it again."
    count = info.get("label_count")
    if count is not None and count != len(labels):
        return (f"model_info.json says {count} labels but {os.path.basename(labels_path)} has {len(labels)}: the "
                f"files come from different runs. Re-run training.")
    return None


def new_run_id() -> str:
    """A fresh id for a training run: time-ordered for people, random so two runs never share one."""
    import time
    import uuid
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def sha256_of(path: str) -> str:
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_entry(info: dict, path: str, **facts) -> dict:
    """The "exports" entry of an artifact just written from the model of `info`: its file name, the
    run id it was made from and its sha256, plus `facts` (precision, accuracy, ...)."""
    return {"file": os.path.basename(path), RUN_ID: info.get(RUN_ID),
            "sha256": sha256_of(path) if os.path.isfile(path) else None, **facts}


def artifact_problem(info: dict, path: str) -> Optional[str]:
    """Why the artifact at `path` must not be used with the model of `info` (None: it may).

    An artifact belongs to a model folder when model_info.json lists its file under "exports" with
    this folder's run id and the file's own sha256: a file a previous run exported, a copy from another
    folder, or a truncated or edited one fails, with one line that says what to do.
    """
    name = os.path.basename(path)
    entries = [e for e in info.get("exports", {}).values() if isinstance(e, dict) and e.get("file") == name]
    where = os.path.dirname(os.path.abspath(path))
    if not entries:
        return (f"{name} is not an export of this model (model_info.json in {where} does not list it; it "
                f"may be left from an earlier training run). Run `qdretrain export` again.")
    entry = entries[0]
    if info.get(RUN_ID) and entry.get(RUN_ID) != info.get(RUN_ID):
        return (f"{name} was exported from another training run ({entry.get(RUN_ID)}) than the model in "
                f"{where} ({info.get(RUN_ID)}). Run `qdretrain export` again.")
    if entry.get("sha256") and os.path.exists(path) and sha256_of(path) != entry["sha256"]:
        return (f"{name} has changed since it was exported and verified (damaged, truncated or replaced). "
                f"Run `qdretrain export` again.")
    return None


def retire_previous_run(folder: str) -> list[str]:
    """Removes what a previous training run exported into `folder`, before a new run writes there.

    Removes the files its model_info.json lists under "exports", their `.failed` copies and
    export_report.json; model_info.json itself goes too, so a half-written folder is never vouched for.

    Returns:
      The names removed (for the one-line message).
    """
    path = os.path.join(folder, MODEL_INFO_FILE)
    removed = []
    names = set()
    if os.path.exists(path):
        try:
            previous = read_json(path)
            names = {e.get("file") for e in previous.get("exports", {}).values() if isinstance(e, dict)}
        except (OSError, ValueError, AttributeError):
            names = set()
        os.remove(path)
    # Exports are named model*.tflite / model.onnx by `qdretrain export`; also those of an export that
    # stopped before it recorded them.
    for entry in sorted(os.listdir(folder)):
        if entry in names or (entry.startswith("model") and entry.endswith((".tflite", ".onnx",
                                                                            ".tflite.failed", ".onnx.failed"))):
            if entry.endswith(".failed") or os.path.isfile(os.path.join(folder, entry)):
                os.remove(os.path.join(folder, entry))
                removed.append(entry)
    for name in EXPORT_FOLDERS:
        if os.path.isfile(os.path.join(folder, name, "model.json")):
            import shutil
            shutil.rmtree(os.path.join(folder, name))
            removed.append(name + "/")
    for name in (EXPORT_REPORT_FILE, *EXPORT_SIDE_FILES):
        if os.path.isfile(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
            removed.append(name)
    return [name for name in removed if name]


# What `qdretrain export` writes and records under "exports"; the training run's own files (graph,
# SavedModel) belong to the folder by construction.
EXPORTED_SUFFIXES = (".tflite", ".onnx")


def exported_artifact_problem(path: str) -> Optional[str]:
    """`artifact_problem` for a file picked up on its own (label_image --graph, serve): checked against
    the model_info.json beside it; None when it is not an export or has no model_info.json beside it
    (a model from elsewhere, e.g. retrain.py's)."""
    if not path.endswith(EXPORTED_SUFFIXES):
        return None
    info_path = os.path.join(os.path.dirname(os.path.abspath(path)), MODEL_INFO_FILE)
    if not os.path.exists(info_path):
        return None
    try:
        info = read_json(info_path)
    except (OSError, ValueError):
        return None  # the caller's own model_info.json checks say what is wrong with it
    if not isinstance(info, dict) or "android" in info:  # app assets: `qdretrain android` checked the copy
        return None
    return artifact_problem(info, path)
