"""The set-up scripts (.ci/): the main job sets up only the core; the tests' extras (browser, client
venvs, any .ci/setup_* added later) come with .ci/run; nothing calls sudo; apt as non-root is a
warning and a skip, not a password prompt; long steps print progress; logs stay inside the clone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CI = Path(__file__).resolve().parent.parent / ".ci"
SUDO = re.compile(r"(^|[\s;&|(`$])sudo\s+[-\w]")


def _code(path: Path) -> str:
    return "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))


def test_the_main_job_sets_up_only_the_core():
    for name in ("setup", "demo", "demo_run"):
        code = _code(CI / name)
        for what in ("apt-get", "setup_browser", "setup_clients", "setup_tests", "chromium", "-r requirements.txt"):
            assert what not in code, f".ci/{name} must not set up {what} (the tests' set-up does)"
    assert "setup_tests" in _code(CI / "run")


def test_no_script_calls_sudo_and_logs_stay_in_the_clone():
    for path in [*CI.glob("setup*"), *CI.glob("lib/*"), CI / "run", CI / "demo"]:
        code = _code(path)
        assert not SUDO.search(code), f"{path} calls sudo"
        assert "/tmp/" not in code and "mktemp" not in code, f"{path} logs outside the clone"


def _fake_clone(tmp_path: Path, extra_scripts: dict) -> Path:
    """A copy of .ci/ with stand-ins for pip and the optional set-up scripts."""
    clone = tmp_path / "clone"
    shutil.copytree(CI, clone / ".ci", ignore=shutil.ignore_patterns("logs"))
    (clone / ".venv/bin").mkdir(parents=True)
    python = clone / ".venv/bin/python"
    python.write_text("#!/bin/sh\necho Collecting something\nsleep 2\nexit 0\n")
    python.chmod(0o755)
    for name, body in extra_scripts.items():
        (clone / ".ci" / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
    return clone


def test_setup_tests_runs_every_setup_script_so_new_ones_slot_in(tmp_path):
    clone = _fake_clone(tmp_path, {"setup_browser": "echo browser ran", "setup_clients": "echo clients ran",
                                   "setup_web": "echo web ran; exit 3"})
    result = subprocess.run(["bash", ".ci/setup_tests"], cwd=clone, capture_output=True, text=True,
                            env={**os.environ, "CI_PROGRESS_EVERY": "1"}, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("browser ran") < out.index("clients ran") < out.index("web ran")
    assert "setup_web failed; the tests that need it will skip" in result.stderr
    assert re.search(r"pip install the test stack \(requirements.txt\): [12]s  \(Collecting something\)", out), out
    assert (clone / ".ci/logs/setup_tests_pip.log").exists()


def test_progress_survives_a_log_with_nothing_to_show_under_set_e(tmp_path):
    """Under `set -euo pipefail` (as .ci/setup runs), a status tick before the log says anything must
    not end the script and orphan the install."""
    script = (f"set -euo pipefail; cd {CI.parent}; source .ci/lib/common.sh; "
              f"with_progress quiet {tmp_path}/q.log bash -c 'sleep 3; echo Collecting late'; echo after")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "CI_PROGRESS_EVERY": "1", "CI_LOG_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert re.search(r"quiet: [12]s\n", result.stdout) and "quiet: done in" in result.stdout
    assert result.stdout.rstrip().endswith("after")


def test_apt_as_non_root_warns_and_skips_instead_of_asking_for_a_password(tmp_path):
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "id").write_text("#!/bin/sh\necho 1000\n")
    (shim / "id").chmod(0o755)
    script = f"cd {CI.parent} && source .ci/lib/common.sh && can_apt .ci/setup_browser 'the browser tests will skip'"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "CI_LOG_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "needs root and this is not root (no sudo" in result.stderr
    assert "the browser tests will skip" in result.stderr


@pytest.mark.parametrize("name", ["setup_browser", "setup_clients"])
def test_apt_waits_for_another_apt_lock(name):
    code = _code(CI / "lib/common.sh")
    assert "DPkg::Lock::Timeout" in code and "apt_install" in _code(CI / name)
