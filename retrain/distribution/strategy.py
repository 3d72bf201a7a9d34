"""Training on several devices or machines: picking the tf.distribute strategy and the chores around it.

One process per machine (a *worker*); `TF_CONFIG` (JSON in the environment) tells each worker the
cluster's addresses and which task it is, as TensorFlow expects:

    {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}

With it set, `--strategy auto` picks MultiWorkerMirroredStrategy: every worker holds a full copy of
the head, takes its share of each global batch, and gradients are summed across workers each step
(synchronous data parallelism). Worker 0 (or the task of type "chief", if the cluster has one) is the
*chief*: it alone writes the real outputs; the others must still take part in every save (saving
reads distributed variables with collective ops), so they save into temporary folders that are then
removed.

Batch size and learning rate (the rule `scaled_learning_rate` applies):
  * `--train_batch_size` is per replica; the global batch is that times the number of replicas, so
    each replica does the same work per step whatever the cluster size.
  * linear scaling (Goyal et al., 2017, "Accurate, Large Minibatch SGD"): the learning rate is
    multiplied by the number of replicas, so one step on an N-times larger batch moves the weights
    about as far as N single-replica steps would. "sqrt" (multiply by sqrt(N), gentler, often
    better for Adam/RMSprop) and "none" are also available.

Two things about MultiWorkerMirroredStrategy shape this module:
  * it must be created before any other TensorFlow op runs in the process (it configures the
    runtime's collective ops at startup); `create_strategy` is therefore the first TF call.
  * creating it blocks until every worker in TF_CONFIG has started, and TensorFlow waits forever
    (holding the interpreter, so no Python timer or signal handler can interrupt it). `wait_for_peers`
    runs first: it waits at most `QDRETRAIN_CLUSTER_TIMEOUT` seconds (default 300) for every peer to
    answer an HTTP/2 handshake (what a TensorFlow gRPC server, or a peer still in this same wait,
    answers; a port that accepts TCP but is something else does not), and raises ConfigError naming
    the ones that did not. The strategy is then created under `retrain.distribution.watchdog.guard`: at most the
    same timeout again, and Ctrl-C/SIGTERM stop the process, each with one line naming the peers.

Security: TensorFlow's gRPC server listens on all network interfaces, whatever address TF_CONFIG
gives, with no authentication or encryption. Run clusters on a private network only.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from typing import Any, Optional

from common.errors import ConfigError

STRATEGY_NAMES = ("auto", "default", "mirrored", "multi_worker")
LR_RULES = ("linear", "sqrt", "none")
# MultiWorkerMirroredStrategy runs only these task types (no parameter servers, no evaluator).
WORKER_TASK_TYPES = ("chief", "worker")
CLUSTER_TIMEOUT_ENV = "QDRETRAIN_CLUSTER_TIMEOUT"
# Long enough for the slowest worker of a real cluster to be scheduled and import TensorFlow.
DEFAULT_CLUSTER_TIMEOUT_S = 300.0

_TF_CONFIG_ADVICE = (
    "TF_CONFIG must be JSON like "
    '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}, '
    "with the same cluster on every worker and each worker's own task. `qdretrain launch "
    "--num_workers N -- ...` writes it for you on one machine; unset TF_CONFIG to train in one process.")


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """A validated TF_CONFIG: the cluster's addresses by task type, and this process's task."""
    cluster: dict            # task type -> list of "host:port"
    task_type: str
    task_id: int

    @property
    def num_workers(self) -> int:
        return sum(len(self.cluster.get(kind, [])) for kind in WORKER_TASK_TYPES)

    @property
    def own_address(self) -> str:
        return self.cluster[self.task_type][self.task_id]

    def peers(self) -> list[tuple[str, int, str]]:
        """(task type, index, address) of every other task."""
        return [(kind, index, address)
                for kind in WORKER_TASK_TYPES for index, address in enumerate(self.cluster.get(kind, []))
                if (kind, index) != (self.task_type, self.task_id)]


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """Who this process is in the run.

    Attributes:
      task_type: "worker" or "chief" ("worker" when not distributed).
      task_id: index within task_type.
      num_workers: processes in the cluster (1 when not distributed).
      is_chief: the one that writes the real outputs.
      rank: position among all processes, 0..num_workers-1 (the chief first, then workers), e.g. to
        pick this process's shard of the bottleneck cache; task_id alone repeats across task types.
    """
    task_type: str
    task_id: int
    num_workers: int
    is_chief: bool
    rank: int = 0


def parse_tf_config(raw: Optional[str]) -> Optional[ClusterConfig]:
    """Checks a TF_CONFIG string for the mistakes that would otherwise hang or crash TensorFlow.

    Args:
      raw: the TF_CONFIG value; None or blank means "not distributed".

    Returns:
      The ClusterConfig, or None for None/blank/`{}`.

    Raises:
      ConfigError: malformed JSON, missing "cluster" or "task", a task type MultiWorkerMirroredStrategy
        cannot run, an index outside the cluster, or an address that is not host:port.
    """
    if raw is None or not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({error}). {_TF_CONFIG_ADVICE}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"TF_CONFIG must be a JSON object, not {type(data).__name__}. {_TF_CONFIG_ADVICE}")
    if not data:
        return None
    cluster, task = data.get("cluster"), data.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ConfigError(f'TF_CONFIG has no "cluster" (the addresses of all workers). {_TF_CONFIG_ADVICE}')
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ConfigError('TF_CONFIG has no "task" with "type" and "index" (which worker this process is). '
                          + _TF_CONFIG_ADVICE)
    unsupported = sorted(set(cluster) - set(WORKER_TASK_TYPES))
    if unsupported:
        raise ConfigError(f"TF_CONFIG's cluster has task types {unsupported}; MultiWorkerMirroredStrategy "
                          f"runs only {list(WORKER_TASK_TYPES)} (no parameter servers or evaluators). "
                          "List every machine under \"worker\".")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise ConfigError(f'TF_CONFIG cluster["{kind}"] must be a non-empty list of "host:port". '
                              + _TF_CONFIG_ADVICE)
        for address in addresses:
            _check_address(address, kind)
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError('TF_CONFIG lists several "chief" tasks; a cluster has at most one.')
    all_addresses = [a for addresses in cluster.values() for a in addresses]
    duplicates = sorted({a for a in all_addresses if all_addresses.count(a) > 1})
    if duplicates:
        raise ConfigError(f"TF_CONFIG lists {duplicates} more than once; each task needs its own host:port.")
    task_type, index = task["type"], task["index"]
    if task_type not in cluster:
        raise ConfigError(f'TF_CONFIG says this process is task "{task_type}", which is not in the cluster '
                          f"({sorted(cluster)}): this worker's own address is missing. {_TF_CONFIG_ADVICE}")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ConfigError(f'TF_CONFIG task "index" must be an integer, not {index!r}.')
    if not 0 <= index < len(cluster[task_type]):
        raise ConfigError(f'TF_CONFIG task index {index} is out of range: the cluster has '
                          f'{len(cluster[task_type])} "{task_type}" task(s), indices 0 to '
                          f"{len(cluster[task_type]) - 1}. Give each worker its own index.")
    return ClusterConfig(cluster={k: list(v) for k, v in cluster.items()}, task_type=task_type,
                         task_id=index)


def _check_address(address: Any, kind: str) -> None:
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f'TF_CONFIG cluster["{kind}"] has {address!r}, which is not "host:port" '
                          "(e.g. \"10.0.0.2:2222\").")


def cluster_timeout_s() -> float:
    """Seconds a worker waits for all its peers: $QDRETRAIN_CLUSTER_TIMEOUT, else 300.

    Raises:
      ConfigError: the variable is not a positive number.
    """
    raw = os.environ.get(CLUSTER_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_CLUSTER_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"{CLUSTER_TIMEOUT_ENV}={raw!r} must be a positive number of seconds.")
    return value


def resolve_strategy_name(name: str, cluster: Optional[ClusterConfig], num_gpus: int) -> str:
    """What `--strategy` means here: "auto" becomes one of the others.

    Args:
      name: one of STRATEGY_NAMES.
      cluster: the validated TF_CONFIG, or None.
      num_gpus: GPUs visible to this process.

    Returns:
      "default", "mirrored" or "multi_worker".

    Raises:
      ConfigError: an unknown name, or a strategy that would make several TF_CONFIG workers train
        separately and overwrite each other's outputs.
    """
    if name not in STRATEGY_NAMES:
        raise ConfigError(f"--strategy must be one of {', '.join(STRATEGY_NAMES)}, not {name!r}.")
    if name == "auto":
        if cluster is not None:
            return "multi_worker"
        return "mirrored" if num_gpus > 1 else "default"
    if name != "multi_worker" and cluster is not None and cluster.num_workers > 1:
        raise ConfigError(f"TF_CONFIG describes a {cluster.num_workers}-worker cluster, but --strategy {name} "
                          "does not coordinate workers: each would train alone and overwrite the same "
                          "outputs. Use --strategy auto (or multi_worker), or unset TF_CONFIG.")
    return name


def create_strategy(name: str) -> "tf.distribute.Strategy":  # noqa: F821 (tf imported lazily)
    """Creates the tf.distribute strategy. Call it before any other TensorFlow op.

    auto: TF_CONFIG set -> MultiWorkerMirroredStrategy; several GPUs -> MirroredStrategy; else the
    default (one device). For multi_worker, this returns once every worker of the cluster is up.

    Args:
      name: one of STRATEGY_NAMES.

    Returns:
      The strategy.

    Raises:
      ConfigError: bad TF_CONFIG or QDRETRAIN_CLUSTER_TIMEOUT, an unknown name, peers that cannot be
        reached within `cluster_timeout_s()` (named in the message), or TensorFlow already initialised
        (the strategy was not created first).
    """
    cluster = parse_tf_config(os.environ.get("TF_CONFIG"))
    timeout = cluster_timeout_s()
    if name not in STRATEGY_NAMES:
        raise ConfigError(f"--strategy must be one of {', '.join(STRATEGY_NAMES)}, not {name!r}.")
    if cluster is not None:
        from retrain.distribution import watchdog
        # TensorFlow's threads must start with SIGINT/SIGTERM blocked, so that during the
        # uninterruptible start-up below those signals stay pending for the watchdog.
        watchdog.block_signals_in_new_threads()
    from common.tfcompat import tf

    # Listing physical devices does not initialise the runtime, so the check is safe before MWMS.
    num_gpus = len(tf.config.list_physical_devices("GPU")) if name in ("auto", "mirrored") else 0
    resolved = resolve_strategy_name(name, cluster, num_gpus)
    if resolved == "default":
        return tf.distribute.get_strategy()
    if resolved == "mirrored":
        return tf.distribute.MirroredStrategy()
    description = (f"worker {cluster.task_id} ({cluster.task_type}) of {cluster.num_workers}"
                   if cluster else "a one-worker cluster (no TF_CONFIG)")
    try:
        if cluster is None:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            wait_for_peers(cluster, timeout)
            strategy = _create_multi_worker_guarded(tf, cluster, timeout)
    except RuntimeError as error:
        if "initialized" in str(error).lower() or "startup" in str(error).lower():
            raise ConfigError("MultiWorkerMirroredStrategy must be created before any other TensorFlow "
                              f"operation in the process ({error}). Call create_strategy first.") from None
        raise
    print(f"[distribute] {description}: cluster ready", file=sys.stderr, flush=True)
    return strategy


def _create_multi_worker_guarded(tf, cluster: ClusterConfig, timeout_s: float):
    """MultiWorkerMirroredStrategy(), killed with a one-line message after `timeout_s` or on Ctrl-C."""
    from retrain.distribution import watchdog
    who = f"Worker {cluster.task_id} ({cluster.task_type})"
    peers = ", ".join(f"{kind} {index} at {address}" for kind, index, address in cluster.peers())
    print(f"[distribute] {who}: all peers answer; starting TensorFlow's cluster with {peers} "
          f"(at most {timeout_s:g} s)", file=sys.stderr, flush=True)
    timeout_message = (
        f"[distribute] {who} gave up after {timeout_s:g} s: TensorFlow's cluster start-up did not finish "
        f"with {peers}. One of them answers but is not a qdretrain worker of this cluster (or it stopped): "
        f"check TF_CONFIG on every worker, or wait longer with {CLUSTER_TIMEOUT_ENV}=<seconds>.")
    interrupt_message = f"[distribute] {who}: interrupted while waiting for {peers}; stopped."
    with watchdog.guard(timeout_s, timeout_message, interrupt_message):
        return tf.distribute.MultiWorkerMirroredStrategy()


# An HTTP/2 client's first bytes (RFC 9113 section 3.4): the connection preface and an empty SETTINGS
# frame. Every HTTP/2 server, TensorFlow's gRPC server included, answers with a SETTINGS frame.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type 4, flags 0, stream 0
_SETTINGS_FRAME_TYPE = 4


def wait_for_peers(cluster: ClusterConfig, timeout_s: float, poll_s: float = 0.2,
                   listen_host: str = "") -> None:
    """Returns once every peer in TF_CONFIG answers an HTTP/2 handshake; raises if one never does.

    TensorFlow's own wait for the cluster has no deadline and holds the Python interpreter while it
    waits, so nothing can interrupt it. This check runs first: the worker listens on its own
    TF_CONFIG port (so its peers' checks see it too, before its TensorFlow server exists) and answers
    the handshake there, and it polls every peer. A peer's port answers either this same check or,
    once that worker went on, its TensorFlow (gRPC, so HTTP/2) server; a port that merely accepts TCP
    (some other program, a proxy) does not, and would otherwise hang TensorFlow. The listener is
    closed before TensorFlow binds the port.

    Args:
      cluster: the validated TF_CONFIG.
      timeout_s: how long to wait for the slowest peer.
      poll_s: pause between rounds of connection attempts.
      listen_host: where to listen meanwhile; "" is every interface, as TensorFlow's server will.

    Raises:
      ConfigError: this worker's port is taken, or peers did not answer within `timeout_s`
        (the message names them, and says which accept connections but do not answer).
    """
    peers = cluster.peers()
    if not peers:
        return
    port = int(cluster.own_address.rpartition(":")[2])
    try:
        if not listen_host and socket.has_dualstack_ipv6():
            listener = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
        else:
            listener = socket.create_server((listen_host, port))
    except OSError as error:
        raise ConfigError(f"This worker's address in TF_CONFIG, {cluster.own_address}, cannot be used: port "
                          f"{port} is taken ({error.strerror}). Give it a free port (in every worker's "
                          "TF_CONFIG).") from None
    stop = threading.Event()
    answerer = threading.Thread(target=_answer_handshakes, args=(listener, stop), daemon=True)
    answerer.start()
    deadline = time.monotonic() + timeout_s
    states = {peer: "refused" for peer in peers}
    try:
        while True:
            for peer in [p for p, state in states.items() if state != "ok"]:
                remaining = max(0.1, deadline - time.monotonic())
                states[peer] = peer_state(peer[2], timeout=min(2.0, remaining))
            if all(state == "ok" for state in states.values()) or time.monotonic() >= deadline:
                break
            time.sleep(poll_s)
    finally:
        stop.set()
        listener.close()
        answerer.join(timeout=5)
    refused = [peer for peer, state in states.items() if state == "refused"]
    silent = [peer for peer, state in states.items() if state == "silent"]
    if refused or silent:
        problems = []
        if refused:
            problems.append(f"cannot connect to {_names(refused)}")
        if silent:
            problems.append(f"{_names(silent)} accept{'s' if len(silent) == 1 else ''} connections but "
                            "do not answer like a TensorFlow worker (no gRPC/HTTP/2 handshake): another "
                            "program has that port, or the address is wrong")
        raise ConfigError(
            f"Worker {cluster.task_id} ({cluster.task_type}) waited {timeout_s:g} s for its cluster and "
            f"gave up: {'; '.join(problems)}. Start every worker listed in TF_CONFIG with the same "
            "cluster and its own task index, check that the addresses are right and reachable from "
            f"here (firewalls), or wait longer with {CLUSTER_TIMEOUT_ENV}=<seconds>.")


def _names(peers: list[tuple[str, int, str]]) -> str:
    return ", ".join(f"{kind} {index} at {address}" for kind, index, address in peers)


def _answer_handshakes(listener: socket.socket, stop: threading.Event) -> None:
    """Answers every connection with an HTTP/2 SETTINGS frame until `stop` (peers' `peer_state`)."""
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            return  # closed
        with connection:
            try:
                connection.settimeout(1.0)
                connection.sendall(HTTP2_EMPTY_SETTINGS)
            except OSError:
                pass


def peer_state(address: str, timeout: float = 1.0) -> str:
    """How "host:port" answers: "ok" (an HTTP/2 SETTINGS frame came back within `timeout`), "silent"
    (it accepts TCP but sent no SETTINGS frame) or "refused" (no TCP connection)."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    try:
        connection = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except (OSError, ValueError):
        return "refused"
    with connection:
        try:
            connection.sendall(HTTP2_PREFACE + HTTP2_EMPTY_SETTINGS)
            header = b""
            while len(header) < 9:
                connection.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = connection.recv(9 - len(header))
                if not chunk:
                    return "silent"
                header += chunk
        except OSError:  # socket.timeout included
            return "silent"
    stream_id = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
    return "ok" if header[3] == _SETTINGS_FRAME_TYPE and stream_id == 0 else "silent"


def worker_info(strategy) -> WorkerInfo:
    """This process's role under `strategy` (a one-process run is worker 0 of 1, the chief).

    Args:
      strategy: from `create_strategy`.

    Returns:
      The WorkerInfo.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return WorkerInfo(task_type="worker", task_id=0, num_workers=1, is_chief=True)
    spec = resolver.cluster_spec().as_dict()
    num_workers = sum(len(spec.get(kind, [])) for kind in WORKER_TASK_TYPES)
    return WorkerInfo(task_type=resolver.task_type, task_id=int(resolver.task_id), num_workers=num_workers,
                      is_chief=bool(strategy.extended.should_checkpoint),
                      rank=global_rank(spec, resolver.task_type, int(resolver.task_id)))


def global_rank(cluster: dict, task_type: str, task_id: int) -> int:
    """0..N-1 over every training process: chiefs first, then workers (TF_CONFIG order)."""
    rank = 0
    for kind in ("chief", "worker"):
        if kind == task_type:
            return rank + task_id
        rank += len(cluster.get(kind, []))
    return task_id


def global_batch_size(per_replica: int, num_replicas: int) -> int:
    """The batch one training step consumes across all replicas: per_replica * num_replicas.

    Raises:
      ValueError: a non-positive argument.
    """
    if per_replica < 1 or num_replicas < 1:
        raise ValueError(f"batch size and replica count must be positive, got {per_replica}, {num_replicas}")
    return per_replica * num_replicas


def scaled_learning_rate(base_lr: float, num_replicas: int, rule: str = "linear") -> float:
    """The learning rate for `num_replicas` replicas, from one tuned for a single replica's batch.

    Rules: "linear" (Goyal et al. 2017): base_lr * num_replicas, since the global batch grows by that
    factor and each step then stands for that many single-replica steps; "sqrt": base_lr *
    sqrt(num_replicas), keeps the gradient noise scale (gentler, often better for adaptive
    optimizers); "none": base_lr unchanged.

    Args:
      base_lr: learning rate for one replica's batch.
      num_replicas: strategy.num_replicas_in_sync.
      rule: one of LR_RULES.

    Returns:
      The scaled learning rate (base_lr itself for one replica, whatever the rule).

    Raises:
      ValueError: an unknown rule or a non-positive replica count.
    """
    if num_replicas < 1:
        raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
    if rule == "linear":
        return base_lr * num_replicas
    if rule == "sqrt":
        return base_lr * math.sqrt(num_replicas)
    if rule == "none":
        return base_lr
    raise ValueError(f"unknown learning-rate scaling rule {rule!r}; use one of {', '.join(LR_RULES)}")


def output_dir_for_worker(real_dir: str, info: WorkerInfo) -> str:
    """Where this worker writes: the chief writes `real_dir`; any other worker a fresh temporary folder.

    The others must still save (MultiWorkerMirroredStrategy's saves are collective), but their copies
    must not clobber the chief's; `cleanup_worker_dir` removes them afterwards.
    """
    if info.is_chief:
        return real_dir
    return tempfile.mkdtemp(prefix=f"qdretrain-{info.task_type}{info.task_id}-")


def cleanup_worker_dir(path: str, info: WorkerInfo) -> None:
    """Removes a non-chief worker's temporary folder; never touches the chief's real outputs."""
    if not info.is_chief and path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def barrier(strategy, timeout_s: Optional[float] = None) -> None:
    """Blocks until every worker reaches this point (a one-number all-reduce).

    Used after sharded bottleneck caching so no worker reads the cache before all shards are on disk.
    Does nothing for a one-worker strategy.

    Args:
      strategy: from `create_strategy`.
      timeout_s: give up after this long (None: wait as long as the slowest worker needs, e.g. its
        share of a large cache; TensorFlow's health checks still end the wait if a peer dies).

    Raises:
      RuntimeError: the workers did not all arrive (a count other than the number of replicas).
    """
    if worker_info(strategy).num_workers <= 1:
        return
    from common.tfcompat import tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_s)

    @tf.function
    def arrive():
        context = tf.distribute.get_replica_context()
        return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.constant(1.0), options=options)

    total = strategy.experimental_local_results(strategy.run(arrive))[0]
    if int(round(float(total))) != strategy.num_replicas_in_sync:
        raise RuntimeError(f"barrier counted {float(total)} replicas, expected {strategy.num_replicas_in_sync}")



_FRIENDLY_STRATEGY_NAMES = {
    "_DefaultDistributionStrategy": "default (one device)",
    "MirroredStrategy": "mirrored",
    "MultiWorkerMirroredStrategy": "multi_worker",
    "CollectiveAllReduceStrategy": "multi_worker",
}


def strategy_name(strategy) -> str:
    """The name `--strategy` uses for `strategy`, e.g. "default (one device)" for TF's private
    `_DefaultDistributionStrategy`; unknown classes keep their class name."""
    name = type(strategy).__name__
    return _FRIENDLY_STRATEGY_NAMES.get(name, name)
