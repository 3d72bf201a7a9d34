"""A caching process killed with SIGKILL (no cleanup at all): the rerun keeps its work, reads nothing bad."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np

from retrain.families import architectures
from retrain.families.hub_head.bottlenecks import BottleneckCache
from retrain.data.dataset import DatasetWarning, scan_image_dir
from retrain.families.hub_head.hub_modules import resolve_module
from tests.conftest import REPO_ROOT, make_image_folder

CHILD = """
import sys, time
from retrain.families import architectures
from retrain.families.hub_head.bottlenecks import BottleneckCache
from retrain.data.dataset import scan_image_dir
from retrain.families.hub_head.hub_modules import resolve_module
module_path, image_dir, cache_dir = sys.argv[1:4]
spec = architectures.with_overrides(architectures.get("mobilenet_0.25_224"), input_size=32, feature_size=8)
cache = BottleneckCache(cache_dir, resolve_module(spec, module_path), spec)
real_write = cache._write_part
def slow_write(*args, **kwargs):  # slow the run down so the parent can kill it part-way
    path = real_write(*args, **kwargs)
    time.sleep(0.3)
    return path
cache._write_part = slow_write
cache.compute(scan_image_dir(image_dir).records, batch_size=4, flush_every=4, progress=False)
print("finished")
"""


def test_sigkill_mid_run_then_rerun(tmp_path, standin_module):
    images = make_image_folder(tmp_path / "images", {"a": 20, "b": 20})
    cache_dir = tmp_path / "bn"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONWARNINGS": "ignore"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, standin_module, str(images), str(cache_dir)],
                             cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    spec = architectures.with_overrides(architectures.get("mobilenet_0.25_224"), input_size=32,
                                        feature_size=8)
    cache = BottleneckCache(str(cache_dir), resolve_module(spec, standin_module), spec)
    deadline = time.monotonic() + 60
    while len(cache.part_files()) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    out, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, (out, err[-2000:])
    assert b"finished" not in out

    saved = sum(len(np.load(p)["keys"]) for p in cache.part_files())
    assert 12 <= saved < 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        records = scan_image_dir(str(images)).records
    report = cache.compute(records, progress=False)
    assert report.corrupt_files == ()
    assert (report.already_cached, report.computed) == (saved, 40 - saved)
    features, kept = cache.load(records)
    fresh = BottleneckCache(str(tmp_path / "fresh"), cache.module, spec)
    fresh.compute(records, progress=False)
    np.testing.assert_allclose(features, fresh.load(records)[0], atol=1e-5)
