"""Where a run's model folder is: chosen from the options a user gave, and found again from any of
the folders a run wrote to (the output dir, a --saved_model_dir copy, the folder of --output_graph).

The model folder (the output dir) holds everything `qdretrain export` / `android` need:
saved_model/, retrained_labels.txt, model_info.json. Training writes model_info.json there LAST, as
the mark of a complete folder. Every other folder that gets a graph or SavedModel copy also gets a
model_info.json, with "model_dir" pointing back at the model folder.
"""

from __future__ import annotations

import os
from typing import Optional

from retrain.model_folder import contract as outputs
from common.errors import QdretrainError

DEFAULT_OUTPUT_DIR = "retrain_output"  # only when no output option names a folder
SAVED_MODEL_DIR = "saved_model"
MODEL_DIR_KEY = "model_dir"  # in a copy's model_info.json: the absolute path of the model folder


def _folder_of(path: Optional[str]) -> Optional[str]:
    """The folder a file option names, or None when that is the current directory (or unset)."""
    if not path:
        return None
    folder = os.path.dirname(os.path.normpath(path))
    return folder if folder and os.path.abspath(folder) != os.path.abspath(os.curdir) else None


def derive_output_dir(output_graph: Optional[str], output_labels: Optional[str],
                      saved_model_dir: Optional[str]) -> tuple[str, str]:
    """The model folder for a run whose --output_dir was not given, and why (for the log).

    retrain.py had no output dir: users name --output_graph, --output_labels and --saved_model_dir.
    The model folder goes where they pointed: the parent of --saved_model_dir, else the folder of
    --output_graph, else of --output_labels. Only when none names a folder (unset, or files in the
    current directory) is it DEFAULT_OUTPUT_DIR, so the current directory never fills with outputs.

    Returns:
      (output_dir, reason).
    """
    for option, path in (("--saved_model_dir", saved_model_dir), ("--output_graph", output_graph),
                         ("--output_labels", output_labels)):
        folder = _folder_of(path)
        if folder:
            return folder, f"the folder of {option}"
    return DEFAULT_OUTPUT_DIR, "no --output_dir given"


def missing_files(folder: str) -> list[str]:
    """What `folder` lacks to be a complete model folder (empty: it is one)."""
    needed = [os.path.join(folder, SAVED_MODEL_DIR, "saved_model.pb"),
              os.path.join(folder, outputs.LABELS_FILE), os.path.join(folder, outputs.MODEL_INFO_FILE)]
    return [path for path in needed if not os.path.exists(path)]


def _pointer(folder: str) -> Optional[str]:
    path = os.path.join(folder, outputs.MODEL_INFO_FILE)
    if not os.path.exists(path):
        return None
    try:
        target = outputs.read_json(path).get(MODEL_DIR_KEY)
    except (ValueError, AttributeError, OSError):
        return None
    return target if isinstance(target, str) else None


def locate_model_dir(folder: str) -> str:
    """The complete model folder that `folder` is, points to, or (a SavedModel folder) sits in.

    Raises:
      QdretrainError: none found; the message lists what is missing and what to pass.
    """
    candidates = [folder]
    target = _pointer(folder)
    if target:
        candidates.append(target)
    if os.path.exists(os.path.join(folder, "saved_model.pb")):  # the SavedModel itself
        candidates.append(os.path.dirname(os.path.abspath(folder)))
    for candidate in candidates:
        if not missing_files(candidate) and not _pointer(candidate):
            return candidate
    missing = missing_files(folder)
    incomplete = (" The training run that wrote it did not finish (model_info.json is written last): "
                  "rerun it." if os.path.exists(os.path.join(folder, outputs.LABELS_FILE)) or
                  os.path.isdir(os.path.join(folder, SAVED_MODEL_DIR)) else "")
    raise QdretrainError(
        f"{folder} is not a qdretrain model dir: missing {', '.join(missing)}.{incomplete} Pass the "
        f"folder a finished `qdretrain train` run named in its last line (its --output_dir, its "
        f"--saved_model_dir or the folder of its --output_graph).")


def pointer_info(info: dict, model_dir: str) -> dict:
    """model_info.json for a folder holding a copy: the same contract, plus where the model folder is."""
    return {**info, MODEL_DIR_KEY: os.path.abspath(model_dir)}
