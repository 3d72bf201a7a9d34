"""Files written whole or not at all: a temporary name in the same folder, then a rename.

An interrupted run (Ctrl-C, kill -9, a full disk) never leaves a half-written output that a later step,
or an Android app, would read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp creates 0600 files; give the output the permissions a normal open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(data: Any, path: str) -> None:
    """Pretty, stable JSON (dataclasses become dicts), written atomically."""
    def default(value):
        if dataclasses.is_dataclass(value):
            return dataclasses.asdict(value)
        if isinstance(value, (set, tuple)):
            return list(value)
        return str(value)
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=default) + "\n").encode())


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
