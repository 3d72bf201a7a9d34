"""Finding the labelled images: folders of image files, or QuickDraw files read directly.

An `ImageIndex` is what every later step works from: the sorted labels (the one ordering every output
uses, `retrained_labels.txt` included), one `ImageRecord` per usable image, and the files that were
skipped with the reason why. Nothing here imports TensorFlow, so scanning is fast and testable alone.

Files are checked cheaply while scanning (signature and end-of-file marker; a full decode only for files
that look wrong), so a truncated JPEG, a WEBP named `.jpg` or an empty file is listed and skipped
instead of crashing a run hours later. The bottleneck cache still treats a decode failure as a skipped
image, not an error, for anything this check lets through.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from typing import Optional

from common.errors import DatasetError
from convert import sources
from retrain.data import quickdraw_source
from retrain.data.records import (MIN_IMAGES_PER_CLASS, DatasetWarning, ImageIndex, ImageRecord,  # noqa: F401
                                  build_index)

log = logging.getLogger(__name__)

# What TensorFlow's decode_image reads (GIF: the first frame).
IMAGE_EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF"}

# Images above this many pixels are refused before decoding: a 120 KB 10000x10000 PNG decodes to
# ~1.6 GB of pixels per copy. 50 megapixels is far above any photo a classifier needs (they are resized
# to ~224 anyway); QDRETRAIN_MAX_IMAGE_PIXELS raises or lowers it.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_PIXELS_ENV = "QDRETRAIN_MAX_IMAGE_PIXELS"


# ---------------------------------------------------------------------------------------------------
# Cheap file checks.

_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def sniff_format(head: bytes) -> Optional[str]:
    """The image format from a file's first bytes: "JPEG", "PNG", "GIF", "BMP", "WEBP", ... or None."""
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "HEIF/AVIF"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    return None


def _tail_looks_complete(fmt: str, head: bytes, tail: bytes, size: int) -> bool:
    """Whether the file ends the way a complete file of that format does (no decode needed)."""
    if fmt == "JPEG":
        return tail.rstrip(b"\x00").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return tail.endswith(_PNG_END)
    if fmt == "GIF":
        return tail.endswith(b"\x3b")
    if fmt == "BMP":
        return len(head) >= 6 and int.from_bytes(head[2:6], "little") <= size
    return False


def _palette_bmp(head: bytes) -> bool:
    """BMPs of 8 bits per pixel or fewer index a colour table, which TensorFlow's decoder ignores
    (it returns the indices as grey levels), so they would train as near-black images."""
    return len(head) >= 30 and int.from_bytes(head[28:30], "little") <= 8


def _full_decode_problem(path: str) -> Optional[str]:
    """Decodes the whole file with Pillow; returns the problem, or None if it decodes."""
    from PIL import Image, ImageFile
    # Decode strictly even if some other code relaxed Pillow globally: a truncated file is a problem.
    relaxed, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with Image.open(path) as image:
            image.load()
        return None
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError... for bad data
        return f"cannot be decoded ({type(error).__name__}: {error})"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = relaxed


def max_image_pixels(environ: Optional[dict] = None) -> int:
    """The pixel limit: QDRETRAIN_MAX_IMAGE_PIXELS if set (a positive integer), else the default.

    Raises:
      DatasetError: the variable is set to something that is not a positive integer.
    """
    value = (os.environ if environ is None else environ).get(MAX_IMAGE_PIXELS_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(value.replace("_", ""))
    except ValueError:
        limit = 0
    if limit < 1:
        raise DatasetError(f"{MAX_IMAGE_PIXELS_ENV}={value!r} is not a positive whole number of pixels; "
                           f"unset it for the default {DEFAULT_MAX_IMAGE_PIXELS}.")
    return limit


def image_size_problem(path: str, max_pixels: Optional[int] = None) -> Optional[str]:
    """Why an image is too large to decode, from its header alone (Pillow opens lazily), or None.

    Args:
      path: the image file.
      max_pixels: the limit (None: `max_image_pixels()`).

    Returns:
      A one-line reason, or None (also when the header cannot be read: other checks report that).
    """
    from PIL import Image
    limit = max_image_pixels() if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own DecompressionBombWarning: we decide here
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError as error:
        return f"too large to decode ({error})"
    except Exception:  # not parseable: the format checks say why
        return None
    if width * height > limit:
        return (f"too large: {width}x{height} = {width * height / 1e6:.0f} megapixels, above the limit of "
                f"{limit / 1e6:g} ({MAX_IMAGE_PIXELS_ENV}); shrink it, or raise the limit")
    return None


def check_image_file(path: str, max_pixels: Optional[int] = None) -> Optional[str]:
    """Why an image file cannot be used, or None if it looks fine.

    Reads the first and last few bytes; decodes the whole file only when its end looks wrong
    (truncated), so a scan of 100k files stays quick.

    Args:
      path: the file.
      max_pixels: refuse images with more pixels than this (None: `max_image_pixels()`); read from the
        header, before anything is decoded.

    Returns:
      A one-line reason ("empty file", "WEBP data, not JPEG/PNG/BMP/GIF", "truncated ...", "too
      large ...") or None.
    """
    try:
        size = os.path.getsize(path)
        if size == 0:
            return "empty file"
        with open(path, "rb") as handle:
            head = handle.read(32)
            handle.seek(max(0, size - 16))
            tail = handle.read(16)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    fmt = sniff_format(head)
    if fmt is None:
        return "not an image (unknown file signature)"
    if fmt not in IMAGE_EXTENSIONS.values():
        return f"{fmt} data, not one of JPEG/PNG/BMP/GIF (convert it, or fix its extension)"
    if fmt == "BMP" and _palette_bmp(head):
        return "palette (8-bit or less) BMP: TensorFlow decodes it wrongly; save it as 24-bit BMP or PNG"
    too_large = image_size_problem(path, max_pixels)
    if too_large:
        return too_large
    if _tail_looks_complete(fmt, head, tail, size):
        return None
    problem = _full_decode_problem(path)
    return f"truncated or corrupt {fmt}: {problem}" if problem else None


# ---------------------------------------------------------------------------------------------------
# Labels and the final index.

def _is_within(path: str, folder: str) -> bool:
    """Whether real path `path` is `folder` or lies under it (both already resolved)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


# What marks a folder qdretrain wrote (model folder, bottleneck cache, summaries, checkpoints). Named here,
# not imported from retrain/model_folder (a layer above); tests/test_class_names.py checks they agree.
OWN_FOLDER_FILES = ("model_info.json", "run_config.json", "retrained_labels.txt", "retrained_graph.pb")
_SUMMARIES_RUN = re.compile(r"^run-\d{8}-\d{6}$")
_CHECKPOINT_MARKS = (os.path.join("backup", "chief"), os.path.join("final", "model.weights.h5"), "checkpoint")


def own_folder_reason(path: str) -> Optional[str]:
    """Why the folder at `path` is qdretrain's own output, cache, summaries or checkpoints, or None.

    `cd Output && qdretrain --image_dir .` would otherwise train a class `retrain_output` of plot PNGs
    on the second run.
    """
    try:
        with os.scandir(path) as entries:
            names = {e.name: e.is_dir() for e in entries}
    except OSError:
        return None
    if any(name in names for name in OWN_FOLDER_FILES):
        return "a qdretrain model folder (it holds model_info.json / retrained_labels.txt), not data"
    if any(name.startswith("events.out.tfevents") for name in names):
        return "TensorBoard summaries, not data"
    if any(os.path.exists(os.path.join(path, mark)) for mark in _CHECKPOINT_MARKS):
        return "qdretrain checkpoints, not data"
    for name, is_dir in names.items():
        if not is_dir:
            continue
        if _SUMMARIES_RUN.match(name):
            return f"qdretrain summaries (it holds {name}/), not data"
        if os.path.exists(os.path.join(path, name, "meta.json")) and re.fullmatch(r"[0-9a-f]{40}", name):
            return "a qdretrain bottleneck cache, not data"
    return None


def scan_image_dir(image_dir: str, check_files: bool = True,
                   max_pixels: Optional[int] = None) -> ImageIndex:
    """Finds the labelled images under `image_dir`: one subfolder per label (searched recursively).

    Labels are the subfolder names as they are (spaces kept: "sea turtle"), sorted. Files with an image
    extension (JPEG, PNG, BMP, GIF, any case) are checked; unusable ones go to `skipped` with the
    reason. Hidden files and folders are ignored; other files are listed in `skipped`.

    Symlinked folders are followed (datasets are often assembled from links), each real folder once,
    but never one that points back at an ancestor or at the dataset root (a loop such as
    `cat/loop -> ..` would count other classes' images as cats) nor into another label's folder; each
    real file (by device and inode) is counted once. Those left out are in `skipped` and named in a
    DatasetWarning.

    Args:
      image_dir: the dataset root.
      check_files: run the cheap per-file check (see `check_image_file`).
      max_pixels: refuse images above this many pixels (None: `max_image_pixels()`).

    Returns:
      The index; relpaths are relative to `image_dir`, so the split does not change if it moves.

    Raises:
      DatasetError: the folder is missing, has fewer than two classes with usable images, or a label
        folder's name breaks the class-name rule (convert.sources.label_problem).
    """
    root = os.path.abspath(os.path.expanduser(image_dir))
    if not os.path.isdir(root):
        raise DatasetError(f"Image directory {image_dir} does not exist. Pass --image_dir with a folder "
                           f"that has one subfolder of images per label.")
    limit = max_image_pixels() if max_pixels is None and check_files else max_pixels
    real_root = os.path.realpath(root)
    entries = [e for e in sorted(os.scandir(root), key=lambda e: e.name) if not e.name.startswith(".")]
    label_reals = {e.name: os.path.realpath(e.path) for e in entries if e.is_dir()}
    records: dict[str, list[tuple[str, str, Optional[int]]]] = {}
    skipped: list[tuple[str, str]] = []
    repeated: list[str] = []  # loops and duplicates, for the warning
    seen_dirs: set[str] = set()
    seen_files: dict[tuple[int, int], str] = {}
    for entry in entries:
        if not entry.is_dir():
            skipped.append((entry.path, "not inside a label folder (images go in <image_dir>/<label>/)"))
            continue
        label = entry.name
        own = own_folder_reason(entry.path)
        if own:
            skipped.append((entry.path, f"{own}; not scanned (keep outputs outside --image_dir)"))
            continue
        try:
            # The one class-name rule (convert.sources): ` `, `x\x0cy`, a line break... refused up front.
            sources.check_class_name(label, f"label folder {entry.path}")
        except sources.SourceError as error:
            raise DatasetError(str(error)) from None
        items = records.setdefault(label, [])
        others = [real for name, real in label_reals.items() if name != label]

        def unreadable(error: OSError) -> None:
            skipped.append((error.filename, f"folder cannot be read ({error.strerror or error})"))

        def refuse_folder(path: str, real: str, folder_real: str) -> Optional[str]:
            if _is_within(real_root, real) or _is_within(folder_real, real):
                return f"symlinked folder loops back to {real} (an ancestor); not followed"
            if any(_is_within(real, other) for other in others) or (
                    _is_within(real, real_root) and not _is_within(real, label_reals[label])):
                return f"symlinked folder points into another label's folder ({real}); not followed"
            if real in seen_dirs:
                return f"folder {real} was already scanned through another path; not scanned again"
            return None

        if label_reals[label] in seen_dirs or _is_within(real_root, label_reals[label]):
            problem = f"label folder is the same as an earlier one ({label_reals[label]}); not scanned"
            skipped.append((entry.path, problem))
            repeated.append(f"{entry.path}: {problem}")
            continue
        for folder, dirs, files in os.walk(entry.path, followlinks=True, onerror=unreadable):
            folder_real = os.path.realpath(folder)
            seen_dirs.add(folder_real)
            kept = []
            for name in sorted(d for d in dirs if not d.startswith(".")):
                path = os.path.join(folder, name)
                real = os.path.realpath(path)
                problem = refuse_folder(path, real, folder_real) if os.path.islink(path) or \
                    real in seen_dirs else None
                if problem:
                    skipped.append((path, problem))
                    repeated.append(f"{path}: {problem}")
                else:
                    kept.append(name)
                    seen_dirs.add(real)  # a second link to it, later in the walk, is not followed
            dirs[:] = kept
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = os.path.join(folder, name)
                if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                    skipped.append((path, "not a .jpg/.jpeg/.png/.bmp/.gif file"))
                    continue
                try:
                    stat = os.stat(path)
                    identity = (stat.st_dev, stat.st_ino)
                except OSError:
                    identity = None  # a broken link: check_image_file says why
                if identity is not None and identity in seen_files:
                    problem = f"same file as {seen_files[identity]} (a link); counted once"
                    skipped.append((path, problem))
                    repeated.append(f"{path}: {problem}")
                    continue
                problem = check_image_file(path, limit) if check_files else None
                if problem:
                    skipped.append((path, problem))
                    continue
                relpath = os.path.relpath(path, root).replace(os.sep, "/")
                try:
                    relpath.encode("utf-8")
                except UnicodeEncodeError:
                    skipped.append((path, "file name is not valid UTF-8; rename it"))
                    continue
                if identity is not None:
                    seen_files[identity] = path
                items.append((relpath, path, None))
    if repeated:
        warnings.warn(f"{len(repeated)} folder(s)/file(s) in {image_dir} were reached more than once "
                      f"through links and counted once, e.g. {repeated[0]}. Remove the links (a loop or "
                      f"a second path would put the same images under several labels, or in both "
                      f"training and testing).", DatasetWarning, stacklevel=2)
    return build_index(records, skipped, image_dir)


def scan_quickdraw_dir(path: str, per_class: int = 1000, seed: int = 0) -> ImageIndex:
    """Indexes QuickDraw `.npy` (numpy_bitmap) / `.ndjson` (simplified strokes) files, read directly.

    The label is the file name without extension ("sea turtle.npy" -> "sea turtle"), as in Google's
    download buckets. `per_class` drawings per label are picked with a seeded shuffle (stable: raising
    `per_class` keeps the earlier picks). See retrain/data/quickdraw_source.py for how drawings become pixels.

    Args:
      path: a .npy/.ndjson file or a folder of them.
      per_class: drawings per label (all if a file has fewer; 0: all).
      seed: picks which drawings.

    Raises:
      DatasetError: nothing readable, or fewer than two labels.
    """
    return quickdraw_source.scan(path, per_class=per_class, seed=seed)
