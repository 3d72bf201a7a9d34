"""Finding QuickDraw files, naming their classes, and reading them safely.

Two formats (https://github.com/googlecreativelab/quickdraw-dataset):
- `numpy_bitmap` `.npy`: uint8 `(N, 784)` rows of 28x28 drawings, 0 = background, 255 = ink. Also
  accepted: `(N, 28, 28)` and `(N, 1, 784)`. Read memory-mapped, so taking 1000 rows of a 100 MB class
  reads about 1000 * 784 bytes, and the header is parsed without ever unpickling anything.
- simplified `.ndjson`: one JSON object a line; `drawing` is a list of strokes `[[xs], [ys]]` on a
  256x256 canvas. Lines are indexed by byte offset and only the chosen ones are parsed.

Class names come from the file name with its real spelling (`sea turtle.npy` -> `sea turtle`); Google's
download prefixes (`full_numpy_bitmap_`, `full_simplified_`, `full_raw_`) are stripped.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import os
import re
import stat
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

import numpy as np

from common.errors import QdretrainError

BITMAP_SIDE = 28
BITMAP_PIXELS = BITMAP_SIDE * BITMAP_SIDE
NPY_SUFFIX = ".npy"
NDJSON_SUFFIX = ".ndjson"
# Kaggle's competition download: train_simplified/<word>.csv (and test_simplified.csv), one drawing a
# line: countrycode,drawing,key_id,recognized,timestamp,word with `drawing` a quoted JSON string.
CSV_SUFFIX = ".csv"
SUFFIXES = (NPY_SUFFIX, NDJSON_SUFFIX, CSV_SUFFIX)
# Prefixes of Google's bucket file names (gs://quickdraw_dataset/full/...), longest first.
DOWNLOAD_PREFIXES = ("full_numpy_bitmap_", "full_simplified_", "full_raw_")
# The accepted bitmap layouts, all holding 784 uint8 pixels per drawing.
ACCEPTED_SHAPES = "(N, 784), (N, 28, 28) or (N, 1, 784)"
# Caps a header's size, as numpy does, so a hostile file cannot make us parse megabytes of "header".
MAX_HEADER_SIZE = 10_000
_RECOGNIZED_FALSE = re.compile(rb'"recognized"\s*:\s*false')
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
# Coordinates beyond this are not drawings (the canvas is 256 wide; raw files stay within a few
# thousand): treating them as malformed keeps a hostile line from making a huge or overflowing render.
MAX_COORDINATE = 1e6
# The longest drawing line read: Google's raw lines stay well under 1 MB. A longer one (a file with no
# newline, `cat.ndjson -> /dev/zero`) is skipped as malformed, read in bounded pieces, so memory stays
# flat and Ctrl-C still works, instead of one line growing without end.
MAX_LINE_BYTES = 4 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024


class SourceError(QdretrainError):
    """A QuickDraw file cannot be used as it is; the message names the file and says what to do."""


@dataclasses.dataclass(frozen=True)
class Source:
    """One QuickDraw file and the class it holds.

    Attributes:
        path: the file.
        label: class name from the file name, real spelling (spaces and capitals kept).
        kind: "npy", "ndjson" or "csv" (Kaggle); the last two hold strokes, read line by line.
    """
    path: Path
    label: str
    kind: str


@dataclasses.dataclass(frozen=True)
class Drawing:
    """One simplified-stroke drawing.

    Attributes:
        key_id: the drawing's id from the file (made file-name safe), or `line<N>` where it has none.
        strokes: one `(xs, ys)` pair of equal-length int tuples per stroke.
    """
    key_id: str
    strokes: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]


@dataclasses.dataclass(frozen=True)
class Discovery:
    """What `discover_sources` found.

    Attributes:
        sources: usable files, sorted by label; one file per label.
        refused: `(path, reason)` for inputs that are not QuickDraw files, repeat a class, are hidden,
            or whose name cannot be a class name.
        unknown: `(extension, count)` of files in the given folders that are in no known format
            (see `unknown_files_note`), sorted by extension.
    """
    sources: tuple[Source, ...]
    refused: tuple[tuple[Path, str], ...]
    unknown: tuple[tuple[str, int], ...] = ()
    misnamed: tuple[tuple[Path, str], ...] = ()

    def check_names(self) -> None:
        """Training refuses a misnamed class up front (leaving it out would shift every label after it
        and hide the problem): one line naming the first, and how many there are.

        Raises:
            SourceError: a file's class name breaks `label_problem`.
        """
        if self.misnamed:
            path, reason = self.misnamed[0]
            more = f" (and {len(self.misnamed) - 1} more)" if len(self.misnamed) > 1 else ""
            raise SourceError(f"{printable(path)}{more}: {reason}")


def class_name(path: Path | str) -> str:
    """The class a QuickDraw file holds, from its name.

    Args:
        path: e.g. `full_numpy_bitmap_sea turtle.npy` or `The Eiffel Tower.ndjson`.

    Returns:
        The class name with its real spelling: `sea turtle`, `The Eiffel Tower`.
    """
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    for prefix in DOWNLOAD_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return name


def label_problem(label: str) -> str | None:
    """Why `label` cannot be a class name, or None: THE class-name rule every reader applies (convert,
    --image_dir folders, --quickdraw_dir for both families, Kaggle CSV files).

    A class name becomes a folder and a file-name prefix (`<output_dir>/<label>/<label>_<id>.jpg`), so a
    name like `..` (from `full_numpy_bitmap_..npy` or `..npy`) would write outside the output folder; it
    is also one line of the labels file and of the .tflite's label metadata, where a control character
    (`\n`, `\x0c`, `\x85`, ...) splits it in two, and edge spaces are stripped by readers.

    Returns:
        A one-line reason (blank, `.`/`..`, path separator, NUL or another control character, spaces
        at either end), or None if usable.
    """
    if not label.strip():
        return f"its class name {label!r} is empty or blank"
    if label in (".", ".."):
        return f"its class name {label!r} is not a folder name"
    bad = [c for c in ("/", "\\", "\0") if c in label]
    if bad:
        return f"its class name {label!r} holds {', '.join(map(repr, bad))}, which cannot be in a folder name"
    # str.isprintable() is False for control and separator characters (\n, \r, \x0c, \x1c, \x85,
    # \u2028, ...): every one of them splits or hides a line in a labels file.
    control = sorted({c for c in label if not c.isprintable() and c != " "})
    if control:
        return (f"its class name {label!r} holds the control character(s) {', '.join(map(repr, control))}, "
                "which would split or hide it in the labels file")
    if label != label.strip():
        return f"its class name {label!r} starts or ends with a space"
    return None


def printable(text: str) -> str:
    """`text` with control characters escaped (`\\n`), so a message about a bad name stays one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))


def check_class_name(label: str, where: str) -> None:
    """Raises SourceError (a one-line reason naming `where`) if `label` cannot be a class name."""
    problem = label_problem(label)
    if problem:
        raise SourceError(f"{printable(where)}: {problem}. Rename it (class names are single-line, printable, "
                          "without path separators or surrounding spaces).")


def unknown_files_note(counts: Iterable[tuple[str, int]]) -> str:
    """One line saying which files in a folder were skipped as in no known format, or "".

    Args:
        counts: `(extension, count)` pairs, e.g. `[(".csv", 2), (".txt", 1)]`; "" for no extension.

    Returns:
        e.g. "skipped 3 files not in a known format (.bin x2, .txt x1); ...".
    """
    counts = [(extension, count) for extension, count in counts if count]
    if not counts:
        return ""
    total = sum(count for _, count in counts)
    listed = ", ".join(f"{extension or '(no extension)'} x{count}" for extension, count in counts)
    return (f"skipped {total} file{'s' * (total != 1)} not in a known format ({listed}); "
            "QuickDraw files are .npy (numpy_bitmap), .ndjson (simplified) or Kaggle's .csv")


def _is_documentation(path: Path) -> bool:
    """README / LICENSE / ATTRIBUTION files and Markdown: documentation, not data to report."""
    return path.suffix.lower() == ".md" or path.stem.upper() in ("README", "LICENSE", "ATTRIBUTION")


def _count_unknown(folder: Path, counter: dict[str, int]) -> None:
    """Adds the non-hidden files of `folder` that are not QuickDraw files to `counter` by extension."""
    for path in folder.iterdir():
        if _is_documentation(path):
            continue  # a README or licence beside the data (as in the embedded sample) is expected
        if path.suffix not in SUFFIXES and not path.name.startswith(".") and path.is_file():
            extension = path.suffix.lower()
            counter[extension] = counter.get(extension, 0) + 1


def discover_sources(inputs: Iterable[Path | str]) -> Discovery:
    """Lists the QuickDraw files among `inputs` (files, or folders whose .npy/.ndjson/.csv files are taken).

    Args:
        inputs: files and folders, as the user gave them.

    Returns:
        The usable sources sorted by label, and the inputs refused with why (an explicitly named file
        of another type; a second file for a class already seen, which would mix row numbers).

    Raises:
        SourceError: an input does not exist.
    """
    candidates: list[Path] = []
    refused: list[tuple[Path, str]] = []
    unknown: dict[str, int] = {}
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            for found in sorted(p for p in path.iterdir() if p.suffix in SUFFIXES):
                if found.name.startswith("."):
                    # Hidden (macOS `._cat.npy`, or a crafted `..%2f..%2fetc.npy`): said, not read.
                    refused.append((found, "hidden file (its name starts with '.'), skipped"))
                else:
                    candidates.append(found)
            _count_unknown(path, unknown)
        elif path.suffix in SUFFIXES:
            # A broken link or unreadable file is kept here and refused, with its reason, when read.
            if not path.exists() and not path.is_symlink():
                raise SourceError(f"{path} does not exist. Give QuickDraw .npy/.ndjson files or folders "
                                  "holding them.")
            candidates.append(path)
        elif not path.exists():
            raise SourceError(f"{path} does not exist. Give QuickDraw .npy/.ndjson files or folders "
                              "holding them.")
        else:
            refused.append((path, "not a QuickDraw numpy_bitmap .npy, simplified .ndjson or Kaggle .csv file "
                                  "(.bin and other formats are not supported)"))
    by_label: dict[str, Source] = {}
    misnamed: list[tuple[Path, str]] = []
    for path in candidates:
        kind = path.suffix[1:]
        source = Source(path=path, label=class_name(path), kind=kind)
        problem = label_problem(source.label)
        if problem:
            refused.append((path, f"{problem}; rename the file to <class>{path.suffix}"))
            misnamed.append(refused[-1])
            continue
        if path.exists() and not path.is_file():
            # A device or pipe (`cat.ndjson -> /dev/zero`) never ends and cannot be read by offset.
            refused.append((path, "not a regular file (a device, pipe or folder); give the file itself"))
            continue
        if source.label in by_label:
            first = by_label[source.label].path
            refused.append((path, f"class {source.label!r} already comes from {first}; "
                                  "give one file per class"))
            continue
        by_label[source.label] = source
    return Discovery(sources=tuple(by_label[label] for label in sorted(by_label)),
                     refused=tuple(refused), unknown=tuple(sorted(unknown.items())),
                     misnamed=tuple(misnamed))


def open_bitmaps(path: Path | str) -> np.ndarray:
    """Opens a numpy_bitmap `.npy` memory-mapped, after checking it is safe and complete.

    The header is read with `numpy.lib.format` (never `allow_pickle`), so a pickled array is refused
    rather than executed, and the file size is checked against the header so a truncated download is
    reported instead of crashing later.

    Args:
        path: the `.npy` file.

    Returns:
        A read-only uint8 memmap of shape `(N, 784)`, N >= 1.

    Raises:
        SourceError: unreadable, empty, not .npy, pickled, not uint8, wrong shape, truncated, or no rows.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            if size == 0:
                raise SourceError(f"{path} is empty (0 bytes): download it again.")
            try:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(
                        stream, max_header_size=MAX_HEADER_SIZE)
                else:
                    # 2.0 and 3.0 differ from 1.0 only in the header length field (and 3.0's utf8).
                    shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(
                        stream, max_header_size=MAX_HEADER_SIZE)
            except (ValueError, EOFError) as error:
                raise SourceError(f"{path} is not a readable .npy file ({error}). QuickDraw numpy_bitmap "
                                  "files are at https://quickdraw.withgoogle.com/data; download it "
                                  "again.") from None
            offset = stream.tell()
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}.") from None
    if dtype.hasobject:
        raise SourceError(f"{path} holds pickled Python objects, not pixels. qdretrain never unpickles "
                          "(that could run code); save the drawings as a plain uint8 array instead.")
    if dtype != np.uint8:
        raise SourceError(f"{path} has dtype {dtype}, but QuickDraw numpy_bitmap files are uint8 "
                          f"(0..255). Convert it, e.g. np.save(path, array.astype(np.uint8)).")
    shape = tuple(shape)
    if any(not isinstance(d, int) or d < 0 for d in shape):
        # A hostile header can say (-5, 784): numpy's own arithmetic on it overflows.
        raise SourceError(f"{path} has an impossible shape {shape} in its header; a numpy_bitmap file is "
                          f"{ACCEPTED_SHAPES} uint8 28x28 drawings. Download it again.")
    if not (len(shape) >= 2 and math.prod(shape[1:]) == BITMAP_PIXELS
            and shape[1:] in ((BITMAP_PIXELS,), (BITMAP_SIDE, BITMAP_SIDE), (1, BITMAP_PIXELS))):
        raise SourceError(f"{path} has shape {shape}; a numpy_bitmap file is {ACCEPTED_SHAPES} "
                          "uint8 28x28 drawings.")
    rows = shape[0]
    if rows == 0:
        raise SourceError(f"{path} holds no drawings (shape {shape}).")
    needed = offset + rows * BITMAP_PIXELS
    if size < needed:
        raise SourceError(f"{path} is truncated: its header promises {rows} drawings ({needed} bytes) "
                          f"but it has {size} bytes. Download it again.")
    if fortran_order and shape[1:] != (BITMAP_PIXELS,):
        # Mapping a Fortran-ordered (N, 28, 28) file as (N, 784) would transpose every drawing.
        raise SourceError(f"{path} is a Fortran-ordered {shape} array; save it in C order "
                          f"(np.save(path, np.ascontiguousarray(a))) or as (N, 784).")
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(rows, BITMAP_PIXELS),
                     order="F" if fortran_order else "C")


def select_indices(total: int, count: int, seed: int, label: str) -> np.ndarray:
    """A reproducible random choice of `count` of `total` items, in file order.

    The generator is seeded with `seed` and the label, so classes of equal size do not all get the
    same row numbers, and the choice for a smaller count is a subset of the choice for a larger one
    (asking for more later only adds files).

    Args:
        total: items available.
        count: items wanted; 0 or more than `total` takes all.
        seed: the user's seed.
        label: the class.

    Returns:
        Sorted int64 indices (sorted so memory-mapped reads go forward through the file).
    """
    order = permutation(total, seed, label)
    if 0 < count < total:
        order = order[:count]
    return np.sort(order)


def permutation(total: int, seed: int, label: str) -> np.ndarray:
    """The seeded order in which a class's items are taken (see `select_indices`)."""
    rng = np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])
    return rng.permutation(total)


def open_drawing_file(path: Path | str) -> BinaryIO:
    """Opens a drawing file (.ndjson / .csv / --strokes) for reading, refusing what is not a regular file.

    A device or pipe (`/dev/zero`, `cat.ndjson -> /dev/zero`) never ends: reading its "lines" would run
    forever, and lines are re-read by byte offset, which a stream cannot do.

    Raises:
        OSError: unreadable; SourceError: not a regular file.
    """
    stream = open(path, "rb")
    if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
        stream.close()
        raise SourceError(f"{path} is not a regular file (a device, pipe or folder); give a QuickDraw "
                          ".ndjson or Kaggle .csv file.")
    return stream


def read_line(stream: BinaryIO) -> bytes:
    """The line at the stream's position, at most MAX_LINE_BYTES (+ its newline); a longer one is
    returned cut short (it then does not parse) and the stream is left after it."""
    line = stream.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
        while True:
            rest = stream.readline(_SKIP_CHUNK)
            if not rest or rest.endswith(b"\n"):
                break
    return line


def iter_lines(stream: BinaryIO) -> Iterable[tuple[int, bytes]]:
    """(byte offset, line) of every line of `stream`, each at most MAX_LINE_BYTES + 1 long (a longer
    one is yielded cut short: see read_line), so a newline-free stream never fills memory."""
    position = stream.tell()
    while True:
        line = read_line(stream)
        if not line:
            return
        yield position, line
        position = stream.tell()


def line_too_long(line: bytes) -> bool:
    return len(line) > MAX_LINE_BYTES


def index_lines(path: Path | str) -> list[int]:
    """Byte offsets of the non-blank drawing lines of an .ndjson (or Kaggle .csv, header left out) file,
    read in one streaming pass.

    Raises:
        SourceError: unreadable or empty.
    """
    path = Path(path)
    offsets = []
    try:
        with open_drawing_file(path) as stream:
            for position, line in iter_lines(stream):
                if line.strip():
                    offsets.append(position)
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}.") from None
    if path.suffix == CSV_SUFFIX:
        offsets = offsets[1:]  # the header
    if not offsets:
        raise SourceError(f"{path} is empty: no drawings.")
    return offsets


def parse_drawing(line: bytes, line_number: int) -> tuple[Drawing, bool]:
    """Parses one simplified (or raw) ndjson line.

    Args:
        line: the raw line.
        line_number: 1-based, for the fallback id.

    Returns:
        The drawing and whether the game recognised it (True where the line does not say).

    Raises:
        ValueError: not JSON, no `drawing`, or strokes that are not `[[xs], [ys]]` number lists, or
            coordinates that are not finite or beyond +-MAX_COORDINATE (`1e309`, `Infinity`, `NaN`).
    """
    return drawing_from_record(load_json(line), line_number)


def load_json(text: bytes | str):
    """json.loads for one untrusted line: NaN/Infinity, over-long lines and deep nesting are ValueErrors
    (a line nested 1000+ deep raises RecursionError inside json, which would end the whole run).

    Raises:
        ValueError: not JSON, too long, too deeply nested, or a NaN/Infinity constant.
    """
    if len(text) > MAX_LINE_BYTES:
        raise ValueError(f"the line is longer than {MAX_LINE_BYTES} bytes")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("the line is nested too deeply to be a drawing") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 ({error.reason})") from None


def coordinate_ok(value) -> bool:
    """Whether `value` is a usable coordinate: an int or float (not a bool) within +-MAX_COORDINATE.

    Compared without math.isfinite, which raises OverflowError on a 400-digit int; NaN and +-inf fail
    the comparison.
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= MAX_COORDINATE


def drawing_from_record(record, line_number: int) -> tuple[Drawing, bool]:
    """A parsed line (`{"drawing": [[xs], [ys]] per stroke, "key_id": ..., "recognized": ...}`) checked
    into a Drawing; see parse_drawing.

    Raises:
        ValueError: no `drawing`, or strokes that are not `[[xs], [ys]]` usable number lists.
    """
    if not isinstance(record, dict) or "drawing" not in record:
        raise ValueError("no 'drawing' field")
    strokes = []
    for stroke in record["drawing"] if isinstance(record["drawing"], list) else [None]:
        # Raw files add a third list (timestamps) per stroke; only x and y are drawn.
        if not isinstance(stroke, list) or len(stroke) < 2:
            raise ValueError("a stroke is not [[xs], [ys]]")
        xs, ys = stroke[0], stroke[1]
        if (not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or not xs
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs + ys)):
            raise ValueError("a stroke's xs and ys are not equal-length number lists")
        # `1e309` parses as inf and a 400-digit int overflows float: either would end the run in
        # int(round()) or math.isfinite, so both are malformed here.
        if not all(coordinate_ok(v) for v in xs + ys):
            raise ValueError(f"a coordinate is not finite or beyond +-{MAX_COORDINATE:g}")
        strokes.append((tuple(int(round(v)) for v in xs), tuple(int(round(v)) for v in ys)))
    if not strokes:
        raise ValueError("the drawing has no strokes")
    key = record.get("key_id")
    key_id = _UNSAFE_NAME_CHARS.sub("_", str(key))[:40] if key not in (None, "") else f"line{line_number}"
    return Drawing(key_id=key_id, strokes=tuple(strokes)), record.get("recognized", True) is not False


def _refuse_constant(name: str):
    """json.loads hook: `NaN`, `Infinity` and `-Infinity` are not JSON and not coordinates."""
    raise ValueError(f"{name} is not a coordinate")


def csv_columns(path: Path | str) -> dict[str, int]:
    """Column name -> index from a Kaggle CSV file's header (the one header reader: convert, both
    families, predict). A UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped.

    Raises:
        SourceError: unreadable, not UTF-8, or no `drawing` column (not a Kaggle simplified CSV).
    """
    try:
        with open_drawing_file(path) as stream:
            first = read_line(stream)
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}.") from None
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: its header line is not UTF-8 text; save the CSV as UTF-8 "
                          "(Kaggle's files are).") from None
    try:
        header = next(csv.reader([text]), None)
    except csv.Error as error:
        raise SourceError(f"{path}: its header line is not CSV ({error}).") from None
    if not header or "drawing" not in [name.strip() for name in header]:
        raise SourceError(f"{path} has no `drawing` column in its first line ({str(header)[:200]}): a Kaggle "
                          "train_simplified CSV starts with countrycode,drawing,key_id,recognized,timestamp,word.")
    return {name.strip(): index for index, name in enumerate(header)}


def csv_fields(line: bytes, columns: dict[str, int]) -> list[str]:
    """One Kaggle CSV data line split into its fields (one line, one row: Kaggle quotes no newlines).

    Raises:
        ValueError: too long, not a CSV row, or a field count that does not match the header.
    """
    if line_too_long(line):
        raise ValueError(f"the line is longer than {MAX_LINE_BYTES} bytes")
    try:
        fields = next(csv.reader([line.decode("utf-8", "replace")]))
    except (csv.Error, StopIteration) as error:
        raise ValueError(f"not a CSV row ({error})") from None
    if len(fields) != len(columns):
        raise ValueError(f"{len(fields)} fields where the header has {len(columns)}")
    return fields


def parse_csv_line(line: bytes, line_number: int, columns: dict[str, int]) -> tuple[Drawing, bool]:
    """Parses one Kaggle CSV row with the same checks (and errors) as an .ndjson line.

    Raises:
        ValueError: a field count that does not match the header, or a bad `drawing` (see parse_drawing).
    """
    fields = csv_fields(line, columns)
    record = {"drawing": load_json(fields[columns["drawing"]])}
    if "key_id" in columns:
        record["key_id"] = fields[columns["key_id"]]
    if "recognized" in columns:
        record["recognized"] = fields[columns["recognized"]].strip().lower() != "false"
    # The .ndjson parser's checks, so both formats get one set of them.
    return drawing_from_record(record, line_number)


def line_parser(path: Path | str) -> Callable[[bytes, int], tuple[Drawing, bool]]:
    """The parser for the drawing lines of `path`: parse_drawing for .ndjson, a CSV one for .csv.

    Raises:
        SourceError: a .csv without a usable header.
    """
    if Path(path).suffix != CSV_SUFFIX:
        return parse_drawing
    return functools.partial(parse_csv_line, columns=csv_columns(path))


@dataclasses.dataclass(frozen=True)
class SelectedLine:
    """A chosen .ndjson line: where it is, so a worker process can read it again by itself.

    Attributes:
        number: 1-based line number among the non-blank lines.
        offset: byte offset of the line.
        key_id: the drawing's file-name-safe id.
    """
    number: int
    offset: int
    key_id: str


@dataclasses.dataclass(frozen=True)
class StrokeSelection:
    """The drawings taken from an .ndjson file.

    Attributes:
        lines: the chosen lines in file order, at most the count asked for.
        malformed: how many looked-at lines could not be parsed.
        first_problem: `line N: reason` of the first malformed line, or "".
        unrecognized: lines skipped because the game did not recognise them (with recognized_only).
        duplicates: lines skipped because their key_id was already taken.
    """
    lines: tuple[SelectedLine, ...]
    malformed: int
    first_problem: str
    unrecognized: int
    duplicates: int


def select_drawings(path: Path | str, count: int, seed: int, label: str,
                    recognized_only: bool) -> StrokeSelection:
    """Chooses `count` drawings of an .ndjson file reproducibly, parsing only the lines it needs.

    Lines are taken in a seeded order (see `select_indices`); a malformed, unrecognised (with
    `recognized_only`) or repeated line is skipped and the next one in that order is taken instead.

    Args:
        path: the file.
        count: drawings wanted; 0 takes all.
        seed: the user's seed.
        label: the class (mixed into the seed).
        recognized_only: skip drawings the game did not recognise.

    Returns:
        The selection and counts of what was skipped.

    Raises:
        SourceError: unreadable or empty file.
    """
    path = Path(path)
    offsets = index_lines(path)
    parse = line_parser(path)
    order = permutation(len(offsets), seed, label)
    wanted = count if count > 0 else len(offsets)
    chosen: list[SelectedLine] = []
    seen: set[str] = set()
    malformed = unrecognized = duplicates = 0
    first_problem = ""
    try:
        with open_drawing_file(path) as stream:
            for index in order.tolist():
                if len(chosen) >= wanted:
                    break
                stream.seek(offsets[index])
                line = read_line(stream)
                if recognized_only and _RECOGNIZED_FALSE.search(line):
                    unrecognized += 1
                    continue
                try:
                    drawing, recognized = parse(line, index + 1)
                except (ValueError, TypeError) as error:
                    malformed += 1
                    first_problem = first_problem or f"line {index + 1}: {error}"
                    continue
                if recognized_only and not recognized:
                    unrecognized += 1
                    continue
                if drawing.key_id in seen:
                    duplicates += 1
                    continue
                seen.add(drawing.key_id)
                chosen.append(SelectedLine(number=index + 1, offset=offsets[index], key_id=drawing.key_id))
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}.") from None
    chosen.sort(key=lambda line: line.offset)
    return StrokeSelection(lines=tuple(chosen), malformed=malformed, first_problem=first_problem,
                           unrecognized=unrecognized, duplicates=duplicates)


def read_drawing(stream: BinaryIO, line: SelectedLine, parse=parse_drawing) -> Drawing:
    """Reads a selected line again from an open .ndjson (or .csv: pass `line_parser(path)`) file.

    Raises:
        ValueError: the line no longer parses (the file changed since it was selected).
    """
    stream.seek(line.offset)
    drawing, _ = parse(read_line(stream), line.number)
    return drawing



def split_strokes_spec(spec: str) -> tuple[str, int | None]:
    """`FILE[:N]` (--strokes of label_image / similar) -> (FILE, N or None).

    Raises:
        SourceError: N is 0 or beyond any file (it is counted from 1).
    """
    head, _, tail = spec.rpartition(":")
    if not (head and tail.isascii() and tail.isdigit()):
        return spec, None
    number = int(tail)
    if number < 1:
        raise SourceError(f"--strokes {spec}: drawings are counted from 1.")
    if number > MAX_DRAWING_NUMBER:
        raise SourceError(f"--strokes {spec}: {number} is beyond any QuickDraw file (at most "
                          f"{MAX_DRAWING_NUMBER} drawings); pass FILE:N with N counted from 1.")
    return head, number


# No QuickDraw file holds more drawings (the largest class has ~300k); bounds a typed N.
MAX_DRAWING_NUMBER = 10**9


def numbered_drawings(path: str, number: int | None, limit: int) -> tuple[list[tuple[int, Drawing]], int, str]:
    """The `number`-th drawing (from 1) of an .ndjson/.csv file, or its first `limit` ones, reading
    only the lines up to them, each line bounded (one place for label_image and similar --strokes).

    Returns:
        ([(n, drawing)], malformed lines skipped, first problem).

    Raises:
        SourceError: unreadable, not a regular file, a .csv without header, `number` beyond the file or
            its line unparsable, or no drawing parses.
    """
    try:
        parse = line_parser(path)
        with open_drawing_file(path) as stream:
            lines = (line for _, line in iter_lines(stream) if line.strip())
            if Path(path).suffix == CSV_SUFFIX:
                next(lines, None)  # the header
            wanted = number or limit
            taken, count = [], 0
            for count, line in enumerate(lines, 1):
                if number is None or count == number:
                    taken.append((count, line))
                if count >= wanted:
                    break
    except OSError as error:
        raise SourceError(f"cannot read {path} ({error.strerror or error}).") from None
    if number is not None and not taken:
        raise SourceError(f"{path} has {count} drawings.")
    drawings, bad, first = [], 0, ""
    for n, line in taken:
        try:
            drawing, _ = parse(line, n)
        except (ValueError, TypeError) as error:
            if number is not None:
                raise SourceError(f"drawing {n} of {path} does not parse ({error}).") from None
            bad += 1
            first = first or f"line {n}: {error}"
            continue
        drawings.append((n, drawing))
    if not drawings:
        raise SourceError(f"no drawing in {path} parses" + (f" (first: {first})." if first else "."))
    return drawings, bad, first
