"""Output folders that must take writes: checked before long work starts, and write failures at any
point turned into one line that names the folder and says what to do (not an OSError 28 traceback
after an hour of training).
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid

from common.errors import OutputError

PROBE_PREFIX = ".qdretrain-write-probe-"

_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or choose a folder on another disk",
    errno.EDQUOT: "the disk quota is exceeded: free some space or choose a folder on another disk",
    errno.EROFS: "it is on a read-only file system: choose a writable folder",
    errno.EACCES: "permission denied: choose a folder you can write to",
    errno.EPERM: "permission denied: choose a folder you can write to",
    errno.ENOTDIR: "a file stands where a folder is needed: remove it or choose another path",
    errno.EEXIST: "a file stands where a folder is needed: remove it or choose another path",
}


def describe_write_failure(folder: str, option: str, error: BaseException) -> str:
    """One line: which folder, what went wrong, what to do."""
    number = getattr(error, "errno", None)
    reason = getattr(error, "strerror", None) or getattr(error, "message", None) or str(error)
    advice = _ADVICE.get(number, "check that the folder is writable and the disk has space")
    filename = getattr(error, "filename", None)
    where = f" writing {filename}" if filename else ""
    return f"Cannot write to {folder} ({option}){where}: {reason}; {advice} (or pass another {option})."


def check_writable(folder: str, option: str) -> None:
    """Creates `folder` if needed and writes, then removes, a small probe file in it.

    Raises:
      OutputError: the folder cannot be created or written; the message names `option`.
    """
    probe = os.path.join(folder, PROBE_PREFIX + uuid.uuid4().hex[:8])
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"qdretrain checks this folder takes writes\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise OutputError(describe_write_failure(folder, option, error)) from None
    finally:
        with contextlib.suppress(OSError):
            os.remove(probe)


@contextlib.contextmanager
def write_errors(folder: str, option: str):
    """Turns OSError and TensorFlow's write errors (ResourceExhausted, PermissionDenied, ...) raised
    inside the block into an OutputError about `folder`."""
    try:
        yield
    except OSError as error:
        raise OutputError(describe_write_failure(folder, option, error)) from None
    except Exception as error:
        if _is_tf_write_error(error):
            raise OutputError(describe_write_failure(folder, option, error)) from None
        raise


@contextlib.contextmanager
def writable_output(folder: str, option: str):
    """The probe up front (check_writable), then write failures inside the block as one line
    (write_errors): what every command that writes a folder uses."""
    check_writable(folder, option)
    with write_errors(folder, option):
        yield


def _is_tf_write_error(error: Exception) -> bool:
    # Only look at TensorFlow when it is loaded: this module is also used before it is imported.
    import sys
    tf_errors = sys.modules.get("tensorflow.python.framework.errors_impl")
    if tf_errors is None:
        return False
    return isinstance(error, (tf_errors.ResourceExhaustedError, tf_errors.PermissionDeniedError,
                              tf_errors.FailedPreconditionError))


def _new_tops(folders) -> list[str]:
    """For each folder that does not exist yet, the topmost of its ancestors that does not exist
    either: what creating it will create."""
    tops = set()
    for folder in folders:
        if not folder:
            continue
        path = os.path.abspath(folder)
        if os.path.exists(path):
            continue
        while not os.path.exists(os.path.dirname(path)):
            path = os.path.dirname(path)
        tops.add(path)
    return sorted(tops)


def remove_empty_tree(top: str) -> None:
    """Removes `top` and its subfolders that hold no file (bottom-up; a folder with a file stays)."""
    if not os.path.isdir(top):
        return
    for folder, _, _ in os.walk(top, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # fails, and so stays, when something is in it


@contextlib.contextmanager
def no_empty_folders_left_on_failure(*folders):
    """When the body raises, the folders among `folders` that it created (they did not exist before)
    are removed again if nothing was written in them: a failed run (no network for the module, bad
    data) leaves no empty bottlenecks/, summaries/ or checkpoints/ behind to puzzle the user."""
    tops = _new_tops(folders)
    try:
        yield
    except BaseException:
        for top in tops:
            remove_empty_tree(top)
        raise
