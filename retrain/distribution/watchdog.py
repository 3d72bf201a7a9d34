"""A deadline and Ctrl-C/SIGTERM for a call that holds the Python interpreter (TensorFlow's cluster start-up).

`tf.distribute.MultiWorkerMirroredStrategy()` waits inside C++ for every worker, without a deadline and
without releasing the GIL: no Python thread runs and no Python signal handler is called until it returns,
and TensorFlow also installs its own SIGTERM handler (for preemption) that only sets a flag. So the guard
cannot live in this process. `guard` starts a tiny watchdog *process* for the duration of the call; it
prints one line and SIGKILLs this process when

  * the deadline passes, or
  * SIGINT or SIGTERM reach this process: they are blocked in the calling thread while the call runs,
    so they stay pending where the watchdog can see them (/proc/<pid>/status); the threads TensorFlow
    starts inherit the block, and `block_signals_in_new_threads` extends it to the threads that
    importing TensorFlow starts. A Ctrl-C in a terminal (or `qdretrain launch` stopping its workers)
    also reaches the watchdog itself, which is in the same process group.

When the call returns, the watchdog exits quietly and the signals are unblocked again (one that
arrived in the meantime is then handled as usual).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from typing import Iterator

GUARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Runs as `python -c`: argv = parent pid, deadline seconds, timeout message, interrupt message.
# Stdin is a pipe from the parent: end of file means the guarded call returned (or the parent died);
# a byte is a signal number that Python's own C-level handler wrote there (signal.set_wakeup_fd).
_WATCHDOG = r"""
import os, select, signal, sys, time
parent, seconds, timeout_message, interrupt_message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
interrupted = []
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda signum, frame: interrupted.append(signum))
WATCHED = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))

def pending():
    try:
        with open(f"/proc/{parent}/status") as status:
            lines = dict(line.split(":", 1) for line in status if ":" in line)
    except OSError:
        return False
    return any(int(lines.get(key, "0").strip() or "0", 16) & WATCHED for key in ("SigPnd", "ShdPnd"))

def stop(message):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    try:
        os.kill(parent, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os._exit(0)

deadline = time.monotonic() + seconds
while True:
    try:
        ready = select.select([0], [], [], 0.1)[0]
    except InterruptedError:
        ready = []
    if ready:
        data = os.read(0, 64)
        if not data:
            os._exit(0)
        if any(byte in (signal.SIGINT, signal.SIGTERM) for byte in data):
            interrupted.append(data[0])
    if interrupted or pending():
        stop(interrupt_message)
    if time.monotonic() >= deadline:
        stop(timeout_message)
"""


def block_signals_in_new_threads() -> None:
    """Blocks SIGINT/SIGTERM in the threads started from now on by this thread, but not in this one.

    Call it just before importing TensorFlow: the threads that import starts inherit the block, so
    during `guard` a signal cannot slip into one of them (and into TensorFlow's handler) instead of
    staying pending for the watchdog.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, GUARDED_SIGNALS)
    import common.tfcompat  # noqa: F401  (TensorFlow's threads start now, with the signals blocked)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, GUARDED_SIGNALS)


@contextlib.contextmanager
def guard(deadline_s: float, timeout_message: str, interrupt_message: str) -> Iterator[None]:
    """Runs the `with` body under a watchdog process (see the module docstring).

    Args:
      deadline_s: seconds the body may take; then `timeout_message` is printed and the process killed.
      timeout_message: one line for stderr when the deadline passes.
      interrupt_message: one line for stderr when SIGINT/SIGTERM arrive during the body.

    Yields:
      Nothing; the body runs with SIGINT/SIGTERM blocked in the calling thread.
    """
    in_main = threading.current_thread() is threading.main_thread()
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), repr(float(deadline_s)),
                                 timeout_message, interrupt_message], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL)
    os.set_blocking(watchdog.stdin.fileno(), False)
    previous_fd = signal.set_wakeup_fd(watchdog.stdin.fileno()) if in_main else None
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, GUARDED_SIGNALS)
    try:
        yield
    finally:
        if in_main:
            signal.set_wakeup_fd(previous_fd)
        watchdog.stdin.close()  # end of file: the watchdog exits quietly
        watchdog.wait()
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, GUARDED_SIGNALS)
