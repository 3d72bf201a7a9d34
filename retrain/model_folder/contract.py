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
