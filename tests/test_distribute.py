"""retrain.distribution.strategy without starting a cluster: TF_CONFIG checks, strategy choice, batch/LR rules,
worker folders. (Multi-process runs are in test_distribute_multiworker.py.)"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time

import pytest

from retrain.distribution import strategy as distribute
from retrain.distribution.strategy import ClusterConfig, WorkerInfo, parse_tf_config
from common.errors import ConfigError


def _config(workers=2, index=0, task_type="worker", **extra) -> str:
    cluster = {"worker": [f"127.0.0.1:{20000 + i}" for i in range(workers)], **extra}
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_valid_tf_config_is_parsed():
    cluster = parse_tf_config(_config(workers=3, index=2))
    assert cluster.task_type == "worker" and cluster.task_id == 2 and cluster.num_workers == 3
    assert cluster.own_address == "127.0.0.1:20002"
    assert [address for _, _, address in cluster.peers()] == ["127.0.0.1:20000", "127.0.0.1:20001"]


def test_chief_counts_as_a_worker():
    cluster = parse_tf_config(_config(workers=1, index=0, task_type="chief", chief=["127.0.0.1:20100"]))
    assert cluster.num_workers == 2 and cluster.own_address == "127.0.0.1:20100"


@pytest.mark.parametrize("raw", [None, "", "  ", "{}"])
def test_no_tf_config_means_not_distributed(raw):
    assert parse_tf_config(raw) is None


@pytest.mark.parametrize("raw, expected", [
    ('{"cluster": {"worker": ["a:1"]', "not valid JSON"),
    ('["worker"]', "must be a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', 'no "task"'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker"}}', 'no "task"'),
    (_config(workers=2, index=2), "index 2 is out of range"),
    (_config(workers=2, index=-1), "out of range"),
    (_config(workers=2, index="0"), "must be an integer"),
    (_config(workers=2, index=0, task_type="chief"), "own address is missing"),
    (_config(workers=2, ps=["127.0.0.1:3000"]), "parameter servers"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "not \"host:port\""),
    ('{"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker", "index": 0}}', "not \"host:port\""),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "non-empty list"),
    ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}', "more than once"),
])
def test_bad_tf_config_gives_advice(raw, expected):
    with pytest.raises(ConfigError, match=expected) as caught:
        parse_tf_config(raw)
    assert "TF_CONFIG" in str(caught.value)


def test_create_strategy_rejects_bad_tf_config_before_touching_tensorflow(monkeypatch):
    # Validation runs before TensorFlow is involved, so it fails fast with the advice, never hangs.
    monkeypatch.setenv("TF_CONFIG", _config(workers=2, index=5))
    with pytest.raises(ConfigError, match="out of range"):
        distribute.create_strategy("auto")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        distribute.create_strategy("multi_worker")


def test_cluster_timeout_from_environment(monkeypatch):
    monkeypatch.delenv(distribute.CLUSTER_TIMEOUT_ENV, raising=False)
    assert distribute.cluster_timeout_s() == distribute.DEFAULT_CLUSTER_TIMEOUT_S
    monkeypatch.setenv(distribute.CLUSTER_TIMEOUT_ENV, "12.5")
    assert distribute.cluster_timeout_s() == 12.5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv(distribute.CLUSTER_TIMEOUT_ENV, bad)
        with pytest.raises(ConfigError, match=distribute.CLUSTER_TIMEOUT_ENV):
            distribute.cluster_timeout_s()


def test_auto_strategy_choice():
    cluster = parse_tf_config(_config(workers=2))
    assert distribute.resolve_strategy_name("auto", cluster, num_gpus=0) == "multi_worker"
    assert distribute.resolve_strategy_name("auto", cluster, num_gpus=4) == "multi_worker"
    assert distribute.resolve_strategy_name("auto", None, num_gpus=2) == "mirrored"
    assert distribute.resolve_strategy_name("auto", None, num_gpus=1) == "default"
    assert distribute.resolve_strategy_name("auto", None, num_gpus=0) == "default"
    assert distribute.resolve_strategy_name("multi_worker", None, num_gpus=0) == "multi_worker"
    assert distribute.resolve_strategy_name("mirrored", None, num_gpus=0) == "mirrored"


def test_uncoordinated_strategy_with_a_cluster_is_refused():
    cluster = parse_tf_config(_config(workers=2))
    for name in ("default", "mirrored"):
        with pytest.raises(ConfigError, match="overwrite the same outputs"):
            distribute.resolve_strategy_name(name, cluster, num_gpus=0)
    one = parse_tf_config(_config(workers=1))
    assert distribute.resolve_strategy_name("default", one, num_gpus=0) == "default"
    with pytest.raises(ConfigError, match="--strategy must be one of"):
        distribute.resolve_strategy_name("parameter_server", None, num_gpus=0)


def test_default_strategy_is_one_chief_worker(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = distribute.create_strategy("default")
    assert strategy.num_replicas_in_sync == 1
    assert distribute.worker_info(strategy) == WorkerInfo("worker", 0, 1, True)
    distribute.barrier(strategy)  # a no-op for one worker; must not block


def test_global_batch_and_learning_rate_rules():
    assert distribute.global_batch_size(100, 1) == 100
    assert distribute.global_batch_size(100, 4) == 400
    with pytest.raises(ValueError):
        distribute.global_batch_size(0, 2)
    assert distribute.scaled_learning_rate(0.01, 1) == 0.01
    assert distribute.scaled_learning_rate(0.01, 4) == pytest.approx(0.04)
    assert distribute.scaled_learning_rate(0.01, 4, rule="sqrt") == pytest.approx(0.02)
    assert distribute.scaled_learning_rate(0.01, 4, rule="none") == 0.01
    for rule in distribute.LR_RULES:
        assert distribute.scaled_learning_rate(0.3, 1, rule=rule) == 0.3
    assert math.isclose(distribute.scaled_learning_rate(1.0, 9, rule="sqrt"), 3.0)
    with pytest.raises(ValueError, match="unknown learning-rate scaling rule"):
        distribute.scaled_learning_rate(0.01, 2, rule="cubic")
    with pytest.raises(ValueError):
        distribute.scaled_learning_rate(0.01, 0)


def test_chief_writes_real_dir_others_a_temporary_one(tmp_path):
    real = str(tmp_path / "model")
    chief = WorkerInfo("worker", 0, 2, True)
    other = WorkerInfo("worker", 1, 2, False)
    assert distribute.output_dir_for_worker(real, chief) == real
    temp = distribute.output_dir_for_worker(real, other)
    assert os.path.isdir(temp) and not temp.startswith(real) and "worker1" in os.path.basename(temp)
    with open(os.path.join(temp, "saved.pb"), "w") as handle:
        handle.write("x")
    distribute.cleanup_worker_dir(temp, other)
    assert not os.path.exists(temp)
    os.makedirs(real)
    distribute.cleanup_worker_dir(real, chief)  # never removes the chief's outputs
    assert os.path.isdir(real)


def _loopback_cluster(ports, index=0) -> ClusterConfig:
    return ClusterConfig(cluster={"worker": [f"127.0.0.1:{port}" for port in ports]}, task_type="worker",
                         task_id=index)


def test_wait_for_peers_names_the_unreachable_one_in_bounded_time():
    from retrain.distribution.launch import free_ports
    ports = free_ports(3)  # nothing listens on them
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        distribute.wait_for_peers(_loopback_cluster(ports), timeout_s=0.5, listen_host="127.0.0.1")
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert f"cannot connect to worker 1 at 127.0.0.1:{ports[1]}, worker 2 at 127.0.0.1:{ports[2]}" in message
    assert distribute.CLUSTER_TIMEOUT_ENV in message


def test_workers_waiting_for_each_other_all_go_on():
    # Each listens on its own port while it waits, so none waits for a server that does not exist
    # yet; once a worker goes on, its TensorFlow server answers on that port (here a listener that
    # answers the HTTP/2 handshake, as gRPC does).
    from retrain.distribution.launch import free_ports
    ports = free_ports(3)
    errors, servers, finished = [], [], threading.Event()

    def worker(index):
        try:
            distribute.wait_for_peers(_loopback_cluster(ports, index), timeout_s=20, listen_host="127.0.0.1")
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
            return
        # The port was released: the "TensorFlow server" can bind it.
        server = socket.create_server(("127.0.0.1", ports[index]))
        servers.append(server)
        distribute._answer_handshakes(server, finished)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.3)  # staggered starts, like real workers
    deadline = time.monotonic() + 30
    while len(servers) + len(errors) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    finished.set()
    for thread in threads:
        thread.join(timeout=30)
    for server in servers:
        server.close()
    assert errors == [] and len(servers) == 3


def test_wait_for_peers_reports_a_taken_port():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} is taken"):
            distribute.wait_for_peers(_loopback_cluster([port, 1]), timeout_s=1, listen_host="127.0.0.1")
