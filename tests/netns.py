"""Run a command inside a private network namespace that has only a loopback interface.

TensorFlow's gRPC servers listen on all interfaces whatever TF_CONFIG says, so multi-worker tests run
in a namespace of their own: nothing outside can reach the workers, and they can reach nothing but
127.0.0.1. `unshare -n` needs root (or `unshare -rn`, user namespaces); where neither is allowed the
tests skip with the reason.

    python tests/netns.py CMD ARGS...   # run by `wrap`: brings `lo` up, checks isolation, execs CMD
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import socket
import struct
import subprocess
import sys
from typing import Optional

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


@functools.lru_cache(maxsize=None)
def _unshare_prefix() -> tuple[Optional[list[str]], str]:
    """The unshare invocation that works here, or None and why none does."""
    if not sys.platform.startswith("linux"):
        return None, "private network namespaces need Linux"
    if shutil.which("unshare") is None:
        return None, "`unshare` (util-linux) is not installed"
    errors = []
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            result = subprocess.run([*prefix, sys.executable, __file__, "--check"], capture_output=True,
                                    text=True, timeout=60)
        except subprocess.TimeoutExpired:
            errors.append(f"{' '.join(prefix)}: timed out")
            continue
        if result.returncode == 0:
            return prefix, ""
        errors.append(f"{' '.join(prefix)}: {(result.stderr or result.stdout).strip()[-200:]}")
    return None, "cannot create a private network namespace (" + "; ".join(errors) + ")"


def unavailable_reason() -> Optional[str]:
    """None where `wrap` works; otherwise why not (for pytest.skip)."""
    prefix, reason = _unshare_prefix()
    return None if prefix else reason


def wrap(argv: list[str]) -> list[str]:
    """`argv` run inside a fresh private network namespace with loopback up.

    Raises:
      RuntimeError: namespaces are not available (call `unavailable_reason` first).
    """
    prefix, reason = _unshare_prefix()
    if prefix is None:
        raise RuntimeError(reason)
    return [*prefix, sys.executable, os.path.abspath(__file__), *argv]


def _bring_up_loopback() -> None:
    # The ioctl `ip link set lo up` makes; done here so the tests need no iproute2.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def _check_isolated() -> None:
    names = sorted(name for _, name in socket.if_nameindex())
    if names != ["lo"]:
        raise SystemExit(f"not isolated: this network namespace has interfaces {names}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        socket.create_connection(server.getsockname(), timeout=5).close()


def main(argv: list[str]) -> None:
    _bring_up_loopback()
    _check_isolated()
    if argv == ["--check"]:
        return
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
