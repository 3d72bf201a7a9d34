"""Corrections as Quick, Draw! .ndjson lines: `<collect_dir>/<label>.ndjson`, ready for `--quickdraw_dir`.

Appends are atomic: the whole line goes in one os.write on an O_APPEND descriptor, under a lock (one
writer per process at a time), then fsync. A reader therefore sees whole lines only; a write cut short
by a crash can leave at most a line without its newline at the end, which `repair_tail` drops before
the next append so it never glues onto a good line.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import threading
import uuid
from typing import Sequence

from retrain.data.stroke_rendering import quickdraw_simplified

_LOCK = threading.Lock()


def collection_path(collect_dir: str, label: str) -> str:
    # Labels are validated against the model's own labels before they get here; this guards the path anyway.
    if not label or "/" in label or "\\" in label or label in (".", "..") or "\0" in label:
        raise ValueError(f"{label!r} cannot be a file name")
    return os.path.join(collect_dir, f"{label}.ndjson")


def drawing_line(strokes: Sequence, label: str) -> bytes:
    """One ndjson line in Google's simplified format (strokes scaled to 0-255 ints), newline ended."""
    record = {"word": label, "countrycode": "", "recognized": True, "key_id": uuid.uuid4().hex,
              "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC"),
              "drawing": quickdraw_simplified(strokes)}
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def repair_tail(path: str) -> None:
    """Ends the file with a newline before the next append: a last line without one is kept (and
    given its newline) when it parses as a drawing (a file written by hand or by another tool), and
    cut off only when it does not (an interrupted write). A valid drawing is never removed."""
    from convert.sources import MAX_LINE_BYTES, parse_drawing
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # Walk back to the last newline in blocks; everything after it is the unfinished line.
        end, block, start_of_line = size, 4096, 0
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            chunk = handle.read(end - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                start_of_line = start + cut + 1
                break
            end = start
        if size - start_of_line <= MAX_LINE_BYTES:
            handle.seek(start_of_line)
            try:
                parse_drawing(handle.read(), 0)
            except (ValueError, TypeError):
                pass  # an interrupted write: cut below
            else:
                handle.seek(0, os.SEEK_END)
                handle.write(b"\n")
                return
        handle.truncate(start_of_line)


def append_drawing(collect_dir: str, label: str, strokes: Sequence) -> str:
    """Appends one drawing to `<collect_dir>/<label>.ndjson` atomically; returns the file's path."""
    path = collection_path(collect_dir, label)
    line = drawing_line(strokes, label)
    os.makedirs(collect_dir, exist_ok=True)
    with _LOCK:
        existed = os.path.exists(path)
        if existed:
            repair_tail(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):  # a full disk: take the partial line back out
                os.ftruncate(fd, os.fstat(fd).st_size - written)
                raise OSError(errno.ENOSPC, f"only {written} of {len(line)} bytes written", path)
            os.fsync(fd)
        except OSError:
            # A file this call created and could not fill must not stay behind, empty, as a "class".
            if not existed and os.fstat(fd).st_size == 0:
                os.remove(path)
            raise
        finally:
            os.close(fd)
    return path
