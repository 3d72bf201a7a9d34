"""Multi-worker training for real: two TensorFlow worker processes under MultiWorkerMirroredStrategy,
started by `launch_local_workers`, inside a private network namespace (TensorFlow's gRPC servers
listen on all interfaces, so they must not be reachable from outside; skipped where namespaces are not
allowed).

The workers run tests/mw_worker.py: a tiny head on synthetic features with the same machinery the
pipeline uses (create_strategy first, global batch, linear LR rule, BackupAndRestore, every worker
saving, non-chief folders removed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests import netns

pytestmark = pytest.mark.multiworker

REPO = Path(__file__).resolve().parent.parent
MW_WORKER = str(REPO / "tests" / "mw_worker.py")
# Two workers with per-replica batch 16 and one worker with batch 32 see the same global batches; the
# all-reduced mean gradient equals the one-worker gradient up to float summation order.
ONE_WORKER_TOLERANCE = 1e-5

# Runs inside the namespace: launches the workers and exits with the launch's status.
_DRIVER = """
import json, sys
sys.path.insert(0, {repo!r})
from retrain.distribution.launch import launch_local_workers
spec = json.loads(sys.argv[1])
sys.exit(launch_local_workers(spec["num_workers"], spec["args"], worker_command=[sys.executable],
                              timeout=spec["timeout"], max_restarts=spec["max_restarts"]))
"""


@pytest.fixture(scope="module")
def isolated():
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"multi-worker tests need a private network namespace: {reason}")


def launch_in_netns(worker_args: list[str], tmp: Path, num_workers: int = 2, timeout: float = 150,
                    max_restarts: int = 0) -> subprocess.CompletedProcess:
    """Runs the workers; their temporary folders (a killed worker cannot remove its own) go in `tmp`."""
    spec = {"num_workers": num_workers, "args": worker_args, "timeout": timeout, "max_restarts": max_restarts}
    command = netns.wrap([sys.executable, "-c", _DRIVER.format(repo=str(REPO)), json.dumps(spec)])
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TMPDIR"] = str(tmp)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout + 60, env=env, cwd=REPO)


def load_weights(results: Path, worker: int) -> dict:
    with np.load(results / f"weights_worker{worker}.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def two_worker_run(isolated, tmp_path_factory):
    root = tmp_path_factory.mktemp("two_workers")
    result = launch_in_netns([MW_WORKER, "--out", str(root / "out"), "--results", str(root / "results"),
                              "--per_replica_batch", "16", "--learning_rate", "0.1"], tmp=root)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return root, result.stdout


def test_two_workers_agree_and_match_one_worker(two_worker_run, tmp_path):
    root, log = two_worker_run
    assert "[worker 0] worker 0/2 chief=True replicas=2 global_batch=32 lr=0.2" in log
    assert "[worker 1] worker 1/2 chief=False replicas=2" in log
    chief, other = load_weights(root / "results", 0), load_weights(root / "results", 1)
    # Synchronous training: both workers apply the same all-reduced updates.
    np.testing.assert_array_equal(chief["kernel"], other["kernel"])
    np.testing.assert_array_equal(chief["bias"], other["bias"])

    # One worker, global batch 32 and the same (already scaled) learning rate, no TF_CONFIG.
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    single = subprocess.run([sys.executable, MW_WORKER, "--out", str(tmp_path / "out"), "--results",
                             str(tmp_path / "results"), "--per_replica_batch", "32", "--learning_rate", "0.2"],
                            capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert single.returncode == 0, single.stderr[-3000:]
    reference = load_weights(tmp_path / "results", 0)
    assert float(reference["loss"]) < 0.5  # it learned something, so the comparison means something
    np.testing.assert_allclose(chief["kernel"], reference["kernel"], atol=ONE_WORKER_TOLERANCE)
    np.testing.assert_allclose(chief["bias"], reference["bias"], atol=ONE_WORKER_TOLERANCE)
    assert abs(float(chief["loss"]) - float(reference["loss"])) < 1e-4


def test_only_the_chief_keeps_outputs_and_they_load(two_worker_run):
    root, log = two_worker_run
    from common.tfcompat import tf
    from tests.mw_worker import synthetic_features
    saved = root / "out" / "saved_model"
    assert (saved / "saved_model.pb").is_file()
    model = tf.saved_model.load(str(saved))
    features, _ = synthetic_features()
    weights = load_weights(root / "results", 0)
    logits = model.signatures["serving_default"](tf.constant(features[:8]))
    logits = next(iter(logits.values())).numpy()
    np.testing.assert_allclose(logits, features[:8] @ weights["kernel"] + weights["bias"], atol=1e-5)
    # Worker 1 saved into a temporary folder that is gone now; nothing of it is in the chief's folder.
    other_dir = re.search(r"\[worker 1\] worker dir (\S+)", log).group(1)
    assert other_dir != str(root / "out") and not os.path.exists(other_dir)
    assert sorted(os.listdir(root / "out")) == ["checkpoints", "saved_model"]


def test_killed_worker_restarts_and_resumes_from_backup(two_worker_run, tmp_path):
    baseline_root, _ = two_worker_run
    result = launch_in_netns([MW_WORKER, "--out", str(tmp_path / "out"), "--results", str(tmp_path / "results"),
                              "--per_replica_batch", "16", "--learning_rate", "0.1",
                              "--crash_worker", "1", "--crash_after_epoch", "1",
                              "--crash_marker", str(tmp_path / "crashed")], tmp=tmp_path, max_restarts=1)
    log = result.stdout
    assert result.returncode == 0, log[-4000:] + result.stderr[-2000:]
    assert "[worker 1] worker 1 crashing on purpose after epoch 1" in log
    assert "[launch] worker 1 was killed by SIGKILL; stopping the other 1" in log
    assert "restarting all 2 workers (restart 1 of 1)" in log
    # Epochs 0 and 1 were finished before the crash: the restart starts at epoch 2, losing none.
    restart = log.index("restarting all 2 workers")
    assert "[worker 0] resumed from backup at epoch 2" in log[restart:]
    assert "[worker 1] resumed from backup at epoch 2" in log[restart:]
    assert "[worker 0] epoch 0 loss" not in log[restart:]
    # Same batches, restored state: as good as (in fact equal to) the uninterrupted run.
    resumed, baseline = load_weights(tmp_path / "results", 0), load_weights(baseline_root / "results", 0)
    np.testing.assert_allclose(resumed["kernel"], baseline["kernel"], atol=1e-6)
    assert float(resumed["loss"]) <= float(baseline["loss"]) + 1e-5


def test_unreachable_peer_fails_within_the_timeout(isolated):
    from retrain.distribution.launch import free_ports
    own, missing = free_ports(2)  # nothing will listen on `missing`
    env = dict(os.environ, QDRETRAIN_CLUSTER_TIMEOUT="3",
               TF_CONFIG=json.dumps({"cluster": {"worker": [f"127.0.0.1:{own}", f"127.0.0.1:{missing}"]},
                                     "task": {"type": "worker", "index": 0}}))
    started = time.monotonic()
    # Through the real command line: a clear error, no traceback, non-zero exit.
    result = subprocess.run(netns.wrap([sys.executable, "-m", "retrain", "--image_dir", str(REPO / "tests"),
                                        "--strategy", "multi_worker"]),
                            capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"cannot connect to worker 1 at 127.0.0.1:{missing}" in result.stderr
    assert "waited 3 s for its cluster" in result.stderr and "Traceback" not in result.stderr
    assert elapsed < 60
