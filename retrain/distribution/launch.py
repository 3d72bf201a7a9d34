"""`qdretrain launch`: run a multi-worker training job as N local processes.

    qdretrain launch --num_workers 2 -- --image_dir Output --output_dir model

starts `python -m retrain --image_dir Output --output_dir model` N times, each with a TF_CONFIG naming
all N workers on 127.0.0.1 (free ports) and its own index, so `--strategy auto` picks
MultiWorkerMirroredStrategy. GPUs are split between the workers (CUDA_VISIBLE_DEVICES). Each
worker's output is streamed with a "[worker i] " prefix. When one worker fails, the others are
stopped (they would wait forever for it) and the launch exits non-zero naming the one that failed; with --max_restarts, all workers are started again instead and training
resumes from its last backup. Ctrl-C stops every worker.

This is for one machine (several processes, e.g. one per GPU, or to test a cluster setup). On a real
cluster, start one `qdretrain` per host with its own TF_CONFIG (see the README). TensorFlow's gRPC
server listens on all interfaces with no authentication, even for these local workers: use it on
trusted networks only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Callable, Optional, Sequence

import click

from common.cli_options import flag

LOOPBACK = "127.0.0.1"
# A worker blocked inside TensorFlow can ignore SIGTERM (MultiWorkerMirroredStrategy installs a
# handler for preemption); after this grace period it gets SIGKILL.
STOP_GRACE_S = 3.0
TIMEOUT_EXIT_CODE = 124
INTERRUPTED_EXIT_CODE = 130


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct TCP ports that are free on `host` right now.

    All sockets are held open until every port is chosen, so the ports are distinct; another program
    could still take one before a worker binds it (rare; the launch then fails and can be rerun).
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(addresses: Sequence[str], index: int) -> str:
    """TF_CONFIG for worker `index` of a cluster of "host:port" `addresses` (worker 0 is the chief)."""
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


def visible_gpus(env: dict) -> list[str]:
    """The GPUs workers could use: $CUDA_VISIBLE_DEVICES if set, else those `nvidia-smi -L` lists.

    Found without importing TensorFlow (the launcher must not initialise it); [] where there are none.
    """
    if "CUDA_VISIBLE_DEVICES" in env:
        return [g.strip() for g in env["CUDA_VISIBLE_DEVICES"].split(",") if g.strip() and g.strip() != "-1"]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if listing.returncode != 0:
        return []
    return [str(i) for i, line in enumerate(l for l in listing.stdout.splitlines() if l.startswith("GPU "))]


def gpu_assignment(num_workers: int, gpus: Sequence[str]) -> list[Optional[str]]:
    """CUDA_VISIBLE_DEVICES for each worker (None: leave the environment alone).

    With at least as many GPUs as workers, each worker gets its own equal share (MultiWorkerMirrored
    runs one replica per visible GPU, so workers seeing every GPU would fight over them); with fewer,
    workers share GPUs round-robin (and must grow their GPU memory instead of each taking it all).
    """
    if not gpus:
        return [None] * num_workers
    if len(gpus) >= num_workers:
        share = len(gpus) // num_workers
        return [",".join(gpus[i * share:(i + 1) * share]) for i in range(num_workers)]
    return [gpus[i % len(gpus)] for i in range(num_workers)]


@dataclasses.dataclass
class _Worker:
    index: int
    process: subprocess.Popen
    reader: threading.Thread


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class _Output:
    """Serialises prefixed lines from all workers onto one stream."""

    def __init__(self, stream):
        self._stream = stream
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            try:
                self._stream.write(text + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # the reader (e.g. `| head`) went away; the workers still run to the end

    def pump(self, prefix: str, pipe) -> None:
        # Progress bars redraw with "\r": each redraw becomes its own prefixed line (TQDM_MININTERVAL
        # keeps them few) instead of one endless line.
        for raw in iter(pipe.readline, b""):
            for part in raw.decode("utf-8", errors="replace").rstrip("\r\n").split("\r"):
                if part.strip():
                    self.line(prefix + part)
        pipe.close()


def _start(commands_env: list[tuple[list[str], dict]], output: _Output) -> list[_Worker]:
    workers = []
    for index, (command, env) in enumerate(commands_env):
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL,
                                   # Own process group: Ctrl-C reaches the launcher only, which then
                                   # stops every worker and its children in order.
                                   start_new_session=True)
        reader = threading.Thread(target=output.pump, args=(f"[worker {index}] ", process.stdout),
                                  daemon=True)
        reader.start()
        workers.append(_Worker(index, process, reader))
    return workers


def _stop(workers: list[_Worker], grace_s: float) -> None:
    """SIGTERM every live worker's process group, then SIGKILL whatever is left after `grace_s`."""
    live = [w for w in workers if w.process.poll() is None]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for worker in live:
            try:
                os.killpg(worker.process.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace_s
        while live and time.monotonic() < deadline:
            live = [w for w in live if w.process.poll() is None]
            time.sleep(0.05)
        if not live:
            break
    for worker in workers:
        worker.process.wait()
        worker.reader.join(timeout=2)


def _run_once(num_workers: int, args: Sequence[str], env: dict, gpus: Sequence[str],
              deadline: Optional[float], timeout: Optional[float], worker_command: list[str],
              output: _Output, grace_s: float) -> tuple[int, Optional[int]]:
    """One launch of all workers, until `deadline` (time.monotonic()) at the latest.

    Returns (exit code, index of the failed worker or None).
    """
    addresses = [f"{LOOPBACK}:{port}" for port in free_ports(num_workers)]
    output.line(f"[launch] starting {num_workers} workers: {', '.join(addresses)}")
    commands_env = []
    devices = gpu_assignment(num_workers, gpus)
    for index in range(num_workers):
        worker_env = dict(env, TF_CONFIG=tf_config(addresses, index), PYTHONUNBUFFERED="1")
        worker_env.setdefault("TQDM_MININTERVAL", "5")
        if devices[index] is not None:
            worker_env["CUDA_VISIBLE_DEVICES"] = devices[index]
            if len(gpus) < num_workers:  # shared GPUs: each worker takes memory as it needs it
                worker_env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        commands_env.append(([*worker_command, *args], worker_env))
    workers = _start(commands_env, output)
    output.line("[launch] " + ", ".join(
        f"worker {w.index}: pid {w.process.pid}" + (f" GPU {devices[w.index]}" if devices[w.index] else "")
        for w in workers))
    try:
        while True:
            codes = [w.process.poll() for w in workers]
            failed = next((w for w, code in zip(workers, codes) if code not in (None, 0)), None)
            if failed is not None:
                code = failed.process.returncode
                running = sum(c is None for c in codes)
                output.line(f"[launch] worker {failed.index} {_describe_exit(code)}"
                            + (f"; stopping the other {running}" if running else ""))
                _stop(workers, grace_s)
                return (code if code > 0 else 1), failed.index
            if all(code == 0 for code in codes):
                _stop(workers, grace_s)  # joins the log readers
                return 0, None
            if deadline is not None and time.monotonic() > deadline:
                output.line(f"[launch] timed out after {timeout:g} s; stopping all workers")
                _stop(workers, grace_s)
                return TIMEOUT_EXIT_CODE, None
            time.sleep(0.1)
    except BaseException:
        output.line("[launch] interrupted; stopping all workers")
        _stop(workers, grace_s)
        raise


def launch_local_workers(num_workers: int, args: Sequence[str], env: Optional[dict] = None,
                         timeout: Optional[float] = None, max_restarts: int = 0,
                         worker_command: Optional[list[str]] = None, stream=None,
                         grace_s: float = STOP_GRACE_S, gpus: Optional[Sequence[str]] = None) -> int:
    """Runs `worker_command + args` as `num_workers` local workers of one TF_CONFIG cluster.

    Args:
      num_workers: processes to start (at least 1).
      args: arguments for each worker (the same for all; TF_CONFIG tells them apart).
      env: base environment (default: this process's).
      timeout: seconds for the whole launch, restarts included; None waits as long as it takes.
      max_restarts: when a worker fails, start all workers again this many times (training resumes
        from its BackupAndRestore backup) before giving up.
      worker_command: the program (default `python -m retrain`, i.e. `qdretrain`).
      stream: where prefixed logs go (default sys.stdout).
      grace_s: seconds between SIGTERM and SIGKILL when stopping workers.
      gpus: GPU ids to spread over the workers (`gpu_assignment`); default `visible_gpus(env)`.

    Returns:
      0 when every worker succeeded; otherwise the failed worker's exit status (1 if it was killed
      by a signal), 124 on timeout, 130 when interrupted.

    Raises:
      ValueError: num_workers < 1 or max_restarts < 0.
    """
    if num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    if max_restarts < 0:
        raise ValueError(f"max_restarts must be at least 0, got {max_restarts}")
    output = _Output(stream or sys.stdout)
    command = list(worker_command or [sys.executable, "-m", "retrain"])
    base_env = dict(os.environ if env is None else env)
    gpus = list(visible_gpus(base_env) if gpus is None else gpus)
    deadline = None if timeout is None else time.monotonic() + timeout
    restore = _sigterm_as_interrupt()
    try:
        for attempt in range(max_restarts + 1):
            code, failed = _run_once(num_workers, args, base_env, gpus, deadline, timeout, command, output,
                                     grace_s)
            if code == 0:
                output.line(f"[launch] all {num_workers} workers finished")
                return 0
            if failed is None or attempt == max_restarts:
                if failed is not None:
                    output.line(f"[launch] failed: worker {failed} {_describe_exit(code)}; see its "
                                f"[worker {failed}] lines above")
                return code
            output.line(f"[launch] restarting all {num_workers} workers (restart {attempt + 1} of "
                        f"{max_restarts}); training resumes from its last backup")
        return 1  # unreachable: the loop always returns
    except KeyboardInterrupt:
        output.line("[launch] stopped")
        return INTERRUPTED_EXIT_CODE
    finally:
        restore()


def _sigterm_as_interrupt() -> Callable[[], None]:
    """While launching, SIGTERM stops the workers like Ctrl-C does (not orphaning them)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise KeyboardInterrupt

    # SIGHUP too: a closed terminal or dropped ssh session must not leave workers unsupervised.
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    return lambda: [signal.signal(sig, old) for sig, old in previous.items()]


@click.command("launch", context_settings={"ignore_unknown_options": True})
@flag("--num_workers", type=click.IntRange(min=1), default=2, show_default=True,
      help="Worker processes to start on this machine.")
@flag("--max_restarts", type=click.IntRange(min=0), default=0, show_default=True,
      help="When a worker fails, restart all workers this many times; training resumes from the "
           "last backup in --checkpoint_dir.")
@flag("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
      help="Stop all workers after this many seconds (default: no limit).")
@click.argument("train_args", nargs=-1, type=click.UNPROCESSED)
def launch_command(num_workers, max_restarts, timeout, train_args):
    """Train with N local worker processes (MultiWorkerMirroredStrategy on 127.0.0.1).

    \b
    Put the training arguments after `--`:
      qdretrain launch --num_workers 2 -- --image_dir Output --output_dir model

    Each worker gets TF_CONFIG with free ports on 127.0.0.1 and computes its share of the bottleneck
    cache; worker 0 (the chief) writes the outputs. Logs are prefixed "[worker i]". If a worker
    fails, the others are stopped and the exit status is non-zero. Note: TensorFlow's servers listen
    on all network interfaces without authentication; use this on trusted networks only.
    """
    if not train_args:
        raise click.UsageError("Give the training arguments after `--`, e.g. "
                               "qdretrain launch --num_workers 2 -- --image_dir Output")
    if "TF_CONFIG" in os.environ:
        click.echo("[launch] note: replacing TF_CONFIG from the environment with a local cluster", err=True)
    code = launch_local_workers(num_workers, list(train_args), timeout=timeout, max_restarts=max_restarts)
    sys.exit(code)
