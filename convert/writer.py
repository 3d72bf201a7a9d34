"""Writing JPGs so that a crash or Ctrl-C never leaves a half-written one, and reruns skip done work."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

# Temporary files start with a dot and do not end in .jpg, so image-folder readers never pick them up.
PART_SUFFIX = ".part"
# The temporary file this process is writing, if any: a SIGTERM handler removes it (discard_pending).
_pending: Path | None = None


def jpg_name(label: str, item_id: str | int) -> str:
    """The stable file name of one drawing: `<label>_<row index or key_id>.jpg`.

    Stable names are what let a rerun skip exactly the drawings already written.
    """
    return f"{label}_{item_id}.jpg"


# The longest drawing id a name can hold: Drawing.key_id is cut to 40 characters; row numbers are shorter.
MAX_ID_CHARS = 40
# Used where the file system does not say its name limit (os.pathconf is missing or refuses).
DEFAULT_NAME_MAX = 255


def name_max(folder: Path) -> int:
    """The longest file name, in bytes, the file system holding `folder` accepts."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), or no limit reported
        return DEFAULT_NAME_MAX


def longest_name_bytes(label: str) -> int:
    """Bytes of the longest file name a class writes: the temporary `.<label>_<id>.jpg.<pid>.part`."""
    return len(os.fsencode(f".{jpg_name(label, 'x' * MAX_ID_CHARS)}.{'9' * 7}{PART_SUFFIX}"))


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, with every link resolved, is `root` itself or lies under it."""
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def existing_jpgs(folder: Path) -> set[str]:
    """Names of the finished JPGs in `folder` (empty when it does not exist yet)."""
    try:
        return {name for name in os.listdir(folder) if name.endswith(".jpg") and not name.startswith(".")}
    except FileNotFoundError:
        return set()


def remove_partials(folder: Path) -> int:
    """Deletes temporary files a killed run left in `folder` (a hard kill skips our cleanup).

    Returns:
        How many were removed.
    """
    removed = 0
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    for name in names:
        if name.startswith(".") and name.endswith(PART_SUFFIX):
            try:
                os.remove(folder / name)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of `image` at `quality` (1..95)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_jpeg_atomic(image: Image.Image, path: Path, quality: int) -> None:
    """Writes `image` as a JPEG at `path`: encoded in memory, written to a temporary file beside it,
    then renamed into place, so `path` is either absent or complete, never half-written.

    Args:
        image: the picture.
        path: the final `.jpg` path; its folder must exist.
        quality: JPEG quality 1..95.

    Raises:
        OSError: the file cannot be written (disk full, permissions); nothing is left behind.
    """
    global _pending
    data = encode_jpeg(image, quality)
    temporary = path.with_name(f".{path.name}.{os.getpid()}{PART_SUFFIX}")
    _pending = temporary
    try:
        with open(temporary, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        # Also on KeyboardInterrupt: the rename has not happened, so only the temporary file can exist.
        discard_pending()
        raise
    finally:
        _pending = None


def discard_pending() -> None:
    """Removes the temporary file being written, if any (for signal handlers in worker processes)."""
    if _pending is not None:
        try:
            os.remove(_pending)
        except FileNotFoundError:
            pass
