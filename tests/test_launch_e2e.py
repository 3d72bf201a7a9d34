"""End to end: `qdretrain launch --num_workers 2 -- <train args>` on a tiny image folder with a
stand-in module, inside a private network namespace (skipped where not permitted).

Checks the real pipeline's distributed path: sharded bottleneck caching, synchronous training, only
the chief writing outputs, and the same head as a one-process run with the same global batch.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import netns
from tests.conftest import make_image_folder

pytestmark = pytest.mark.multiworker

REPO = Path(__file__).resolve().parent.parent
# Same global batch (2 x 8 vs 16), same scaled learning rate (linear rule: 2 x 0.05 vs 0.1) and the
# same seeded shuffle: the heads differ only by float summation order.
HEAD_TOLERANCE = 1e-4
COMMON = ["--tfhub_module", None, "--input_size", "32", "--how_many_training_steps", "30",
          "--eval_step_interval", "10", "--validation_batch_size", "-1", "--seed", "3"]


def _train_args(module: str, images: Path, out: Path, cache: Path, batch: int, lr: float) -> list[str]:
    args = list(COMMON)
    args[1] = module
    return [*args, "--image_dir", str(images), "--output_dir", str(out), "--bottleneck_dir", str(cache),
            "--train_batch_size", str(batch), "--learning_rate", str(lr)]


def _head_weights(out: Path) -> list[np.ndarray]:
    """The head's layer weights (kernel, bias) from the final weights file the pipeline writes."""
    import h5py
    arrays = []

    def keep(name, obj):
        if isinstance(obj, h5py.Dataset) and name.startswith("layers/"):
            arrays.append(np.array(obj))
    with h5py.File(out / "checkpoints" / "final" / "head.weights.h5", "r") as handle:
        handle.visititems(keep)
    return arrays


def test_two_worker_launch_trains_like_one_worker(standin_module, tmp_path):
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"multi-worker tests need a private network namespace: {reason}")
    images = make_image_folder(tmp_path / "images", {"cat": 24, "sea turtle": 24, "apple": 24})
    worker_tmp = tmp_path / "worker_tmp"
    worker_tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(worker_tmp))
    env.pop("TF_CONFIG", None)

    two = tmp_path / "two"
    command = [sys.executable, "-m", "retrain", "launch", "--num_workers", "2", "--timeout", "240", "--",
               *_train_args(standin_module, images, two, tmp_path / "cache2", 8, 0.05)]
    result = subprocess.run(netns.wrap(command), capture_output=True, text=True, timeout=300, env=env,
                            cwd=REPO)
    log = result.stdout
    assert result.returncode == 0, log[-5000:] + result.stderr[-2000:]
    assert "[launch] all 2 workers finished" in log
    assert "[worker 1] Strategy: multi_worker, 2 replica(s), worker 1 of 2" in log
    # Progress numbers are global averages, not sums over the workers.
    accuracies = [float(a) for a in re.findall(r"train accuracy = ([\d.]+)%", log)]
    assert accuracies and max(accuracies) <= 100.0

    # The cache was split: each worker computed its own shard, and together they covered every image.
    computed = [int(n) for n in re.findall(r"\[worker \d\] Bottlenecks in .*? (\d+) computed", log)]
    assert len(computed) == 2 and all(n > 0 for n in computed) and sum(computed) == 72, log[-3000:]

    # Only the chief wrote outputs; the other worker's temporary folder is gone.
    for name in ("retrained_graph.pb", "retrained_labels.txt", "model_info.json", "saved_model"):
        assert (two / name).exists(), name
    assert (two / "retrained_labels.txt").read_text().split("\n")[:3] == ["apple", "cat", "sea turtle"]
    assert [p.name for p in worker_tmp.iterdir() if p.name.startswith("qdretrain-")] == []
    assert not re.search(r"\[worker 1\] Wrote", log)

    from common.tfcompat import tf
    loaded = tf.saved_model.load(str(two / "saved_model"))
    pixels = tf.random.uniform([2, 32, 32, 3], -1.0, 1.0, seed=1)
    probabilities = next(iter(loaded.signatures["serving_default"](pixels).values())).numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    # One process, the same global batch and learning rate: the same head.
    one = tmp_path / "one"
    single = subprocess.run([sys.executable, "-m", "retrain",
                             *_train_args(standin_module, images, one, tmp_path / "cache1", 16, 0.1)],
                            capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-2000:]
    two_weights, one_weights = _head_weights(two), _head_weights(one)
    assert len(two_weights) == 2 and np.abs(two_weights[0]).max() > 0.01  # trained well past its init
    for two_worker, one_worker in zip(two_weights, one_weights, strict=True):
        np.testing.assert_allclose(two_worker, one_worker, atol=HEAD_TOLERANCE)


def test_killed_worker_is_restarted_and_the_run_resumes_from_its_backup(standin_module, tmp_path):
    """SIGKILL worker 1 mid-training; `--max_restarts 1` starts both again and they resume."""
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"multi-worker tests need a private network namespace: {reason}")
    images = make_image_folder(tmp_path / "images", {"cat": 16, "sea turtle": 16, "apple": 16})
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TMPDIR"] = str(tmp_path)  # the killed worker cannot remove its temporary folder
    out = tmp_path / "out"
    # 400 steps: Keras epochs (= backups) of 100 steps; the kill comes after the first backup.
    args = _train_args(standin_module, images, out, tmp_path / "cache", 8, 0.05)
    args[args.index("--how_many_training_steps") + 1] = "400"
    command = [sys.executable, "-m", "retrain", "launch", "--num_workers", "2", "--max_restarts", "1",
               "--timeout", "200", "--", *args]
    launcher = subprocess.Popen(netns.wrap(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=REPO)
    lines, killed_at = [], None
    try:
        for line in launcher.stdout:
            lines.append(line)
            pids = re.search(r"\[launch\] worker 0: pid (\d+), worker 1: pid (\d+)", line)
            if pids and killed_at is None:
                worker1 = int(pids.group(2))
            step = re.match(r"\[worker 1\] Step (\d+)/400", line)
            if step and killed_at is None and int(step.group(1)) >= 150:
                os.kill(worker1, 9)  # same PID namespace: only the network is private
                killed_at = int(step.group(1))
        launcher.wait(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    log = "".join(lines)
    assert killed_at is not None, "training ended before worker 1 could be killed:\n" + log[-3000:]
    assert launcher.returncode == 0, log[-5000:]
    assert "[launch] worker 1 was killed by SIGKILL" in log
    restart = log.index("restarting all 2 workers")
    after = log[restart:]
    # Both workers resume from the backup of the last finished epoch (step 100 or later), not step 0.
    resumed = [int(s) for s in re.findall(r"\[worker \d\] Resumed from backup at step (\d+)", after)]
    assert len(resumed) == 2 and resumed[0] == resumed[1] and 100 <= resumed[0] <= killed_at, after[-3000:]
    assert not re.search(r"\[worker 0\] Step 10/400", after)
    assert "[worker 0] Step 400/400" in after
    assert (out / "retrained_graph.pb").exists() and (out / "saved_model" / "saved_model.pb").exists()
    # The bottleneck cache survived the crash: nothing was computed twice.
    assert re.findall(r"\[worker \d\] Bottlenecks in .*? 0 computed", after), after[-3000:]
