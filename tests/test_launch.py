"""`qdretrain launch` process handling, with small stand-in workers (no TensorFlow, no sockets held):
TF_CONFIG per worker, prefixed logs, stopping the others when one fails, timeouts, restarts, Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from retrain.distribution import strategy as distribute
from retrain.distribution.launch import free_ports, gpu_assignment, launch_local_workers, tf_config, visible_gpus

# A stand-in worker: behaviour chosen by argv[1]; it knows its index from TF_CONFIG, like a real one.
WORKER = textwrap.dedent("""
    import json, os, signal, sys, time
    mode, folder = sys.argv[1], sys.argv[2]
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    with open(os.path.join(folder, f"pid{index}-{os.getpid()}"), "w"):
        pass
    print("TF_CONFIG=" + os.environ["TF_CONFIG"], flush=True)
    if mode == "ok":
        print("GPUS=" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset") + " GROWTH="
              + os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "unset"), flush=True)
        print("progress 10%\\rprogress 100%", flush=True)
        sys.exit(0)
    if mode == "fail1":
        if index == 1:
            time.sleep(0.5)
            print("something broke", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # like TensorFlow, which catches SIGTERM
        time.sleep(60)
    if mode == "sleep":
        time.sleep(60)
    if mode == "flaky":  # fails on the first attempt only
        marker = os.path.join(folder, f"attempted{index}")
        if index == 1 and not os.path.exists(marker):
            open(marker, "w").close()
            sys.exit(5)
        sys.exit(0)
""")


@pytest.fixture
def worker(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return [sys.executable, str(script)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pids(folder) -> list[int]:
    return [int(name.split("-")[1]) for name in os.listdir(folder) if name.startswith("pid")]


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(4)
    assert len(set(ports)) == 4 and all(1024 <= port < 65536 for port in ports)


def test_each_worker_gets_its_own_task_in_one_cluster(worker, tmp_path):
    stream = io.StringIO()
    code = launch_local_workers(3, ["ok", str(tmp_path)], worker_command=worker, stream=stream, timeout=60,
                                gpus=[])
    out = stream.getvalue()
    assert code == 0, out
    configs = {}
    for line in out.splitlines():
        if "TF_CONFIG=" in line:
            prefix, _, raw = line.partition("TF_CONFIG=")
            configs[prefix] = distribute.parse_tf_config(raw)  # valid for our own checks too
    assert sorted(configs) == ["[worker 0] ", "[worker 1] ", "[worker 2] "]
    assert [configs[f"[worker {i}] "].task_id for i in range(3)] == [0, 1, 2]
    clusters = {json.dumps(c.cluster) for c in configs.values()}
    assert len(clusters) == 1
    addresses = next(iter(configs.values())).cluster["worker"]
    assert all(a.startswith("127.0.0.1:") for a in addresses) and len(set(addresses)) == 3
    # Progress-bar redraws ("\r") become separate prefixed lines.
    assert "[worker 2] progress 10%" in out and "[worker 2] progress 100%" in out
    assert "[launch] all 3 workers finished" in out


def test_a_failed_worker_stops_the_others_and_is_named(worker, tmp_path):
    stream = io.StringIO()
    started = time.monotonic()
    code = launch_local_workers(2, ["fail1", str(tmp_path)], worker_command=worker, stream=stream,
                                timeout=60, grace_s=1.0)
    out = stream.getvalue()
    assert code == 7, out
    assert time.monotonic() - started < 20  # worker 0 would sleep 60 s and ignores SIGTERM
    assert "[worker 1] something broke" in out
    assert "[launch] worker 1 exited with status 7; stopping the other 1" in out
    assert "failed: worker 1 exited with status 7" in out
    assert not any(_alive(pid) for pid in _pids(tmp_path))


def test_timeout_stops_everything(worker, tmp_path):
    stream = io.StringIO()
    started = time.monotonic()
    code = launch_local_workers(2, ["sleep", str(tmp_path)], worker_command=worker, stream=stream,
                                timeout=1.5, grace_s=1.0)
    assert code == 124
    assert time.monotonic() - started < 15
    assert "timed out after 1.5 s" in stream.getvalue()
    assert not any(_alive(pid) for pid in _pids(tmp_path))


def test_max_restarts_starts_all_workers_again(worker, tmp_path):
    stream = io.StringIO()
    code = launch_local_workers(2, ["flaky", str(tmp_path)], worker_command=worker, stream=stream,
                                timeout=60, max_restarts=1)
    out = stream.getvalue()
    assert code == 0, out
    assert "worker 1 exited with status 5" in out and "restarting all 2 workers (restart 1 of 1)" in out
    assert len(_pids(tmp_path)) == 4  # both workers ran twice
    # Without restarts the same failure is final.
    for name in os.listdir(tmp_path):
        if name.startswith(("attempted", "pid")):
            os.remove(tmp_path / name)
    assert launch_local_workers(2, ["flaky", str(tmp_path)], worker_command=worker, stream=io.StringIO(),
                                timeout=60) == 5


def test_ctrl_c_stops_all_workers(worker, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        from retrain.distribution.launch import launch_local_workers
        sys.exit(launch_local_workers(2, ["sleep", {str(tmp_path)!r}], worker_command={worker!r},
                                      grace_s=1.0))
    """))
    launcher = subprocess.Popen([sys.executable, str(driver)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    try:
        deadline = time.monotonic() + 30
        while len(_pids(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_pids(tmp_path)) == 2, "workers did not start"
        launcher.send_signal(signal.SIGINT)
        out, _ = launcher.communicate(timeout=20)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 130, out
    assert "interrupted; stopping all workers" in out
    assert not any(_alive(pid) for pid in _pids(tmp_path))


def test_tf_config_helper():
    config = json.loads(tf_config(["127.0.0.1:1000", "127.0.0.1:1001"], 1))
    assert config == {"cluster": {"worker": ["127.0.0.1:1000", "127.0.0.1:1001"]},
                      "task": {"type": "worker", "index": 1}}


def test_launch_command_line_errors():
    from retrain.cli.main import cli
    runner = CliRunner()
    result = runner.invoke(cli, ["launch", "--num_workers", "2"])
    assert result.exit_code == 2 and "training arguments after `--`" in result.output
    result = runner.invoke(cli, ["launch", "--num_workers", "0", "--", "--image_dir", "x"])
    assert result.exit_code == 2 and "num_workers" in result.output
    result = runner.invoke(cli, ["launch", "--help"])
    assert result.exit_code == 0 and "all network interfaces" in " ".join(result.output.split())
    with pytest.raises(ValueError):
        launch_local_workers(0, ["x"])


def test_gpus_are_split_between_workers():
    assert gpu_assignment(2, []) == [None, None]
    assert gpu_assignment(2, ["0", "1", "2", "3"]) == ["0,1", "2,3"]
    assert gpu_assignment(3, ["0", "1", "2", "3"]) == ["0", "1", "2"]
    assert gpu_assignment(2, ["5", "7"]) == ["5", "7"]
    assert gpu_assignment(3, ["0"]) == ["0", "0", "0"]  # shared
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []


@pytest.mark.parametrize("gpus, expected", [
    (["0", "1"], {"[worker 0] ": "GPUS=0 GROWTH=unset", "[worker 1] ": "GPUS=1 GROWTH=unset"}),
    (["0"], {"[worker 0] ": "GPUS=0 GROWTH=true", "[worker 1] ": "GPUS=0 GROWTH=true"}),
])
def test_each_worker_sees_its_gpus(worker, tmp_path, gpus, expected):
    stream = io.StringIO()
    assert launch_local_workers(2, ["ok", str(tmp_path)], worker_command=worker, stream=stream, timeout=60,
                                gpus=gpus) == 0
    seen = {line[:len("[worker 0] ")]: line[len("[worker 0] "):] for line in stream.getvalue().splitlines()
            if "GPUS=" in line}
    assert seen == expected
