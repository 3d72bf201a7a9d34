"""Faults that used to hang, swallow Ctrl-C or run code from a model folder (issue 8).

The cluster tests run a worker inside a private network namespace (tests/netns.py) against a fake
peer on 127.0.0.1: one that accepts TCP and never answers (a plain socket server), and one that
answers the HTTP/2 handshake but is not TensorFlow (so TensorFlow's own start-up waits forever).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import netns

REPO = Path(__file__).resolve().parent.parent

# Runs inside the namespace: a fake peer, then one worker (index 0) whose TF_CONFIG names it.
# Prints one JSON line: the worker's exit status, stderr, seconds it ran, seconds from SIGTERM to exit.
_CLUSTER_DRIVER = r"""
import json, os, signal, socket, subprocess, sys, threading, time
sys.path.insert(0, {repo!r})
from retrain.distribution.strategy import HTTP2_EMPTY_SETTINGS
from retrain.distribution.launch import free_ports
spec = json.loads(sys.argv[1])
fake = socket.create_server(("127.0.0.1", 0))
held = []
def serve():
    while True:
        connection, _ = fake.accept()
        held.append(connection)  # never closed, never answered...
        if spec["peer"] == "http2":
            connection.sendall(HTTP2_EMPTY_SETTINGS)  # ...beyond the HTTP/2 greeting
threading.Thread(target=serve, daemon=True).start()
own = free_ports(1)[0]
peer = f"127.0.0.1:{{fake.getsockname()[1]}}"
env = dict(os.environ, QDRETRAIN_CLUSTER_TIMEOUT=str(spec["timeout"]),
           TF_CONFIG=json.dumps({{"cluster": {{"worker": [f"127.0.0.1:{{own}}", peer]}},
                                 "task": {{"type": "worker", "index": 0}}}}))
code = ("import sys; sys.path.insert(0, {repo!r}); from retrain.distribution import strategy as distribute; "
        "distribute.create_strategy('multi_worker'); print('created')")
started = time.monotonic()
worker = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
lines, signalled = [], None
for line in worker.stderr:
    lines.append(line)
    if spec["sigterm"] and signalled is None and "starting TensorFlow's cluster" in line:
        time.sleep(2)  # well inside TensorFlow's wait
        worker.send_signal(signal.SIGTERM)  # to the worker alone, not its process group
        signalled = time.monotonic()
worker.wait()
ended = time.monotonic()
print(json.dumps({{"rc": worker.returncode, "stderr": "".join(lines), "stdout": worker.stdout.read(),
                  "peer": peer, "elapsed": ended - started,
                  "after_signal": None if signalled is None else ended - signalled}}))
"""


def run_cluster_case(peer: str, timeout: float, sigterm: bool = False) -> dict:
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"needs a private network namespace: {reason}")
    spec = {"peer": peer, "timeout": timeout, "sigterm": sigterm}
    command = netns.wrap([sys.executable, "-c", _CLUSTER_DRIVER.format(repo=str(REPO)), json.dumps(spec)])
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    # Before the fix the worker waited forever: the limit here turns that into a failure.
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 120, env=env, cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.multiworker
def test_peer_that_accepts_tcp_but_never_answers_fails_within_the_timeout():
    outcome = run_cluster_case("plain", timeout=5)
    stderr = outcome["stderr"]
    assert outcome["rc"] == 1, stderr[-3000:]
    assert (f"worker 1 at {outcome['peer']} accepts connections but do not answer like a TensorFlow "
            "worker") in stderr
    assert "waited 5 s for its cluster" in stderr
    assert "created" not in outcome["stdout"]
    # Importing TensorFlow takes a while on a busy machine; the wait itself is 5 s.
    assert outcome["elapsed"] < 5 + 45


@pytest.mark.multiworker
def test_tensorflow_start_up_that_never_finishes_is_stopped_at_the_timeout():
    outcome = run_cluster_case("http2", timeout=5)
    stderr = outcome["stderr"]
    assert outcome["rc"] != 0 and "created" not in outcome["stdout"], stderr[-3000:]
    assert "gave up after 5 s: TensorFlow's cluster start-up did not finish" in stderr
    assert f"worker 1 at {outcome['peer']}" in stderr.splitlines()[-1]
    assert outcome["elapsed"] < 5 + 5 + 45  # the handshake wait, TensorFlow's, and importing it


@pytest.mark.multiworker
def test_sigterm_stops_a_worker_inside_tensorflows_start_up():
    outcome = run_cluster_case("http2", timeout=300, sigterm=True)
    stderr = outcome["stderr"]
    assert outcome["after_signal"] is not None, stderr[-3000:]
    assert outcome["after_signal"] < 5, stderr[-3000:]
    assert outcome["rc"] != 0 and "created" not in outcome["stdout"]
    assert f"interrupted while waiting for worker 1 at {outcome['peer']}; stopped." in stderr
