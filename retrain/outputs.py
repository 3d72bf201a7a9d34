"""Small writers shared by training and export: labels.txt, model_info.json, the run config.

Every file is written to a temporary name and renamed, so an interrupted run never leaves a
half-written output that a later step (or an Android app) would read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any, Iterable

from retrain.architectures import INPUT_MEAN, INPUT_STD, ArchitectureSpec

MODEL_INFO_FILE = "model_info.json"
RUN_CONFIG_FILE = "run_config.json"
LABELS_FILE = "retrained_labels.txt"
MODEL_INFO_VERSION = 1


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp creates 0600 files; give the output the permissions a normal open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


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


def model_info(spec: ArchitectureSpec, labels: list[str], module_handle: str, module_fingerprint: str,
               quantization: str = "none", labels_file: str = LABELS_FILE) -> dict[str, Any]:
    """The input contract of every float artifact, as written to model_info.json."""
    return {
        "format_version": MODEL_INFO_VERSION,
        "architecture": spec.name,
        "module_handle": module_handle,
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


def write_json(data: Any, path: str) -> None:
    """Pretty, stable JSON (dataclasses become dicts), written atomically."""
    def default(value):
        if dataclasses.is_dataclass(value):
            return dataclasses.asdict(value)
        if isinstance(value, (set, tuple)):
            return list(value)
        return str(value)
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=default) + "\n").encode())


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
