"""Runs the real Android-side clients (.ci/setup_clients venvs) on exported .tflite files.

Shared by tests/test_real_clients.py and bench/bench_runtimes.py. Each client runs
tests/clients/classify.py in its own venv (their pins clash with qdretrain's) on image files, from the
model file alone (labels and normalisation come from the metadata), as an app does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "tests" / "clients" / "classify.py"


@dataclasses.dataclass(frozen=True)
class Client:
    """One client venv: its folder, classify.py's client name, and its runtime in runtime_compat."""

    venv: str
    script_name: str
    runtime: str  # android_export/runtime_compat.py RUNTIMES key
    package: str

    @property
    def python(self) -> Path:
        return REPO_ROOT / self.venv / "bin" / "python"


CLIENTS = {
    "tflite_support": Client(".venv-tflite-support", "tflite_support", "tflite_support", "tflite-support"),
    "mediapipe_0.10": Client(".venv-mediapipe", "mediapipe", "mediapipe", "mediapipe"),
    "mediapipe_current": Client(".venv-mediapipe-current", "mediapipe", "mediapipe", "mediapipe"),
}


def missing_reason(client: Client) -> Optional[str]:
    """Why the client cannot run here (None: it can)."""
    if not client.python.exists():
        return (f"{client.venv} is absent: run `bash .ci/setup_clients` (needs pip access, and libusb-1.0-0 "
                f"for tflite-support)")
    return None


def version(client: Client) -> str:
    """The client's runtime version, as its venv has it installed."""
    result = subprocess.run([str(client.python), "-c", f"import importlib.metadata as m; "
                             f"print(m.version({client.package!r}))"], capture_output=True, text=True, timeout=60)
    return result.stdout.strip()


@dataclasses.dataclass(frozen=True)
class Run:
    """What a client did with a model: top-1 rows ({"label", "score"}) or the error it stopped with."""

    top1: Optional[list]
    error: Optional[str]


def classify(client: Client, model_path: str, image_paths: list, timeout: int = 600) -> Run:
    """Runs the client on the images; a client that fails (e.g. Invoke() failed) returns its error line."""
    # In the model's folder without a labels file: the names can only come from the metadata.
    result = subprocess.run([str(client.python), str(SCRIPT), client.script_name, str(model_path),
                             *map(str, image_paths)], capture_output=True, text=True, timeout=timeout,
                            cwd=os.path.dirname(os.path.abspath(model_path)))
    if result.returncode != 0:
        lines = result.stderr.splitlines() or ["(no output)"]
        # The kernel's own complaint ("ERROR: Div only supports ...") says more than the traceback's end.
        kernel = [l for l in lines if l.startswith("ERROR:")]
        return Run(None, " ".join(kernel[:2] or lines[-1:])[:500])
    return Run(json.loads(result.stdout.strip().splitlines()[-1]), None)
