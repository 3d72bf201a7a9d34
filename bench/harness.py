"""What every bench shares: run a qdretrain command as a user would (a subprocess of `python -m
retrain`), time it, and read the files it wrote. One helper, so each bench measures the same way.

Numbers on a shared machine are noisy: benches compare configurations side by side in one run and
print ratios; nothing here caches results across runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
BITMAPS_13 = os.path.join(SHARED, "data", "quickdraw_bitmaps")
BITMAPS_69 = os.path.join(SHARED, "data", "quickdraw_bitmaps_69")
MODULES = {"mobilenet_0.25_224": os.path.join(SHARED, "modules", "mobilenet_v1_025_224"),
           "mobilenet_1.0_224": os.path.join(SHARED, "modules", "mobilenet_v1_100_224")}


@dataclasses.dataclass(frozen=True)
class CliRun:
    """A finished command. Attributes: the model folder it wrote (or None), wall seconds, its output."""
    out: Optional[str]
    seconds: float
    stdout: str
    stderr: str

    def json(self, name: str) -> dict:
        """A JSON file of the model folder ({} when the run did not write it)."""
        path = os.path.join(self.out or "", name)
        if not self.out or not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)

    @property
    def evaluation(self) -> dict:
        return self.json("evaluation.json")

    @property
    def model_info(self) -> dict:
        return self.json("model_info.json")

    @property
    def export_report(self) -> dict:
        return self.json("export_report.json")

    @property
    def training_seconds(self) -> float:
        """Training alone (training_history.json), else the whole command's wall time."""
        return self.json("training_history.json").get("seconds", self.seconds)


def run_cli(args: Sequence[str], out: Optional[str] = None, *, check: bool = True, cwd: str = REPO,
            quiet: bool = False) -> CliRun:
    """Runs `python -m retrain ARGS [--output_dir OUT]` and times it.

    Args:
      args: the command line after `qdretrain` (a command name first, or training flags).
      out: the model folder (--output_dir is added when given).
      check: raise SystemExit with the output's tail when the command fails.
      quiet: do not keep stdout (long training logs).
    """
    command = [sys.executable, "-m", "retrain", *args] + (["--output_dir", out] if out else [])
    started = time.monotonic()
    completed = subprocess.run(command, cwd=cwd, text=True, capture_output=True)
    seconds = time.monotonic() - started
    if check and completed.returncode:
        print(completed.stdout[-2000:], completed.stderr[-3000:], sep="\n")
        raise SystemExit(f"`qdretrain {' '.join(args[:4])} ...` failed (output above)")
    return CliRun(out=out, seconds=seconds, stdout="" if quiet else completed.stdout, stderr=completed.stderr)


def export(model_dir: str, formats: str, *extra: str, check: bool = False) -> CliRun:
    """`qdretrain export --model_dir DIR --formats FORMATS ...`; its report is `.export_report`."""
    run = run_cli(["export", "--model_dir", model_dir, "--formats", formats, *extra], check=check)
    return dataclasses.replace(run, out=model_dir)


def require_shared(*paths: str) -> None:
    """Exits with the reason when ../shared (real data and weights beside the repo) is absent."""
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise SystemExit(f"{missing[0]} is absent: this bench runs on the real data and weights in ../shared "
                         f"beside the repository (a user's clone does not need it).")


def tflite_latency_ms(path: str, runs: int = 50, warmup: int = 3) -> float:
    """Mean milliseconds of one single-threaded LiteRT invoke of the .tflite at `path`, on zeros,
    after `warmup` invokes (the first ones allocate and pack weights). The interpreter is export's
    (android_export/runners.py: ai_edge_litert, the runtime Android ships), not tf.lite's."""
    import numpy as np

    from android_export.runners import TFLiteRunner
    interpreter = TFLiteRunner(path, num_threads=1).interpreter
    detail = interpreter.get_input_details()[0]
    x = np.zeros(detail["shape"], detail["dtype"])
    for _ in range(warmup):
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
    start = time.perf_counter()
    for _ in range(runs):
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
    return (time.perf_counter() - start) / runs * 1000
