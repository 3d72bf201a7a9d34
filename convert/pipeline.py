"""The conversion: choose drawings per class, render them in worker processes, write JPGs, summarise.

Two phases. Planning (main process) opens every file, checks it, chooses the drawings with the seed and
drops those whose JPG already exists; only row numbers / line offsets are kept, so memory stays small
for hundreds of classes. Rendering hands chunks of that plan to worker processes, which read their own
rows (memory-mapped) or lines, render, and write each JPG atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import signal
import sys
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from tqdm import tqdm

from convert import sources, writer
from convert.render import RenderOptions, render_bitmap, render_strokes
from convert.sources import Source, SourceError
from convert.writer import existing_jpgs, jpg_name, remove_partials, write_jpeg_atomic
from common.errors import QdretrainError

# Records the render settings of an output folder, so a rerun cannot silently mix image sizes.
SETTINGS_FILE = ".qdretrain_convert.json"
# Drawings per task sent to a worker: big enough to amortise messaging, small enough for a live bar.
CHUNK_SIZE = 64


class ConvertError(QdretrainError):
    """The conversion cannot go on (output folder unusable, or nothing usable to convert)."""


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """Everything a conversion needs besides its inputs.

    Attributes:
        output_dir: where `<label>/<label>_<id>.jpg` go.
        per_class: drawings per class (0: all of them).
        seed: seeds the choice of drawings; the same seed chooses the same drawings.
        render: image size, resampling, polarity, stroke width.
        quality: JPEG quality 1..95.
        workers: worker processes; 1 renders in this process.
        recognized_only: from .ndjson, take only drawings the game recognised.
    """
    output_dir: Path
    per_class: int = 1000
    seed: int = 0
    render: RenderOptions = RenderOptions()
    quality: int = 90
    workers: int = 1
    recognized_only: bool = False

    def __post_init__(self):
        if self.per_class < 0:
            raise ValueError("per_class must be >= 0 (0 takes every drawing)")
        if not 1 <= self.quality <= 95:
            raise ValueError("quality must be within 1..95")
        if self.workers < 1:
            raise ValueError("workers must be >= 1")


@dataclasses.dataclass
class ClassReport:
    """What happened to one class.

    Attributes:
        label: the class.
        source: its file.
        chosen: drawings chosen for it.
        written: JPGs written by this run.
        skipped: chosen drawings whose JPG was already there.
        refused: chosen or looked-at drawings that could not be used (malformed, unrenderable).
        notes: warnings worth telling the user (short, one line each).
    """
    label: str
    source: Path
    chosen: int = 0
    written: int = 0
    skipped: int = 0
    refused: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class ConvertSummary:
    """The outcome of a conversion.

    Attributes:
        classes: one report per converted class, sorted by label.
        refused_files: `(path, reason)` for inputs refused whole.
        notes: warnings about the inputs as a whole (files in no known format), one line each.
    """
    classes: tuple[ClassReport, ...]
    refused_files: tuple[tuple[Path, str], ...]
    notes: tuple[str, ...] = ()

    @property
    def written(self) -> int:
        return sum(report.written for report in self.classes)

    @property
    def skipped(self) -> int:
        return sum(report.skipped for report in self.classes)

    @property
    def refused(self) -> int:
        return sum(report.refused for report in self.classes)


@dataclasses.dataclass(frozen=True)
class _Task:
    """A chunk of one class for a worker: `items` are `(file name, row index or SelectedLine)`."""
    kind: str
    path: Path
    label: str
    folder: Path
    items: tuple
    render: RenderOptions
    quality: int


@dataclasses.dataclass(frozen=True)
class _TaskResult:
    label: str
    written: int
    refused: int
    first_problem: str


def convert(inputs: Sequence[Path | str], config: ConvertConfig, progress: bool = True) -> ConvertSummary:
    """Converts QuickDraw files to `output_dir/<label>/*.jpg`, skipping what is already there.

    Bad files are refused with their reason and the other classes go on; bad drawings inside a good
    file are counted as refused.

    Args:
        inputs: .npy/.ndjson files or folders holding them.
        config: what to write and how.
        progress: show progress bars (on a terminal; tqdm hides them elsewhere).

    Returns:
        The summary: per class written / skipped / refused, and refused files.

    Raises:
        SourceError: an input path does not exist.
        ConvertError: no usable input, or the output folder cannot be written or was written with
            other render settings.
    """
    discovery = sources.discover_sources(inputs)
    notes = tuple(filter(None, [sources.unknown_files_note(discovery.unknown)]))
    if not discovery.sources:
        reasons = "".join(f"\n  {path}: {reason}" for path, reason in discovery.refused)
        raise ConvertError("no QuickDraw .npy or .ndjson files found in the inputs."
                           + "".join(f"\n  {note}" for note in notes) + reasons)
    output_dir = Path(config.output_dir)
    _claim_output_dir(output_dir, config)

    reports: list[ClassReport] = []
    refused_files = list(discovery.refused)
    plans: list[tuple[Source, ClassReport, list]] = []
    limit = writer.name_max(output_dir)
    for source in tqdm(discovery.sources, desc="Choosing drawings", unit="file", disable=_bar(progress),
                       file=sys.stderr, leave=False):
        try:
            _check_names(source, output_dir, limit)
            report, todo = _plan_class(source, output_dir, config)
        except SourceError as error:
            refused_files.append((source.path, str(error)))
            continue
        reports.append(report)
        plans.append((source, report, todo))
    if not reports:
        reasons = "".join(f"\n  {path}: {reason}" for path, reason in refused_files)
        raise ConvertError("none of the inputs could be converted:" + reasons
                           + "".join(f"\n  {note}" for note in notes))

    by_label = {report.label: report for report in reports}
    total = sum(len(todo) for _, _, todo in plans)
    tasks = list(_chunks(plans, output_dir, config))
    with tqdm(total=total, desc="Converting", unit="drawing", disable=_bar(progress),
              file=sys.stderr, smoothing=0.1) as bar:
        for result in _run_tasks(tasks, config.workers):
            report = by_label[result.label]
            report.written += result.written
            report.refused += result.refused
            if result.first_problem and not any("could not render" in n for n in report.notes):
                report.notes.append(f"could not render some drawings (first: {result.first_problem})")
            bar.update(result.written + result.refused)
    return ConvertSummary(classes=tuple(reports), refused_files=tuple(refused_files), notes=notes)


def _bar(progress: bool) -> bool | None:
    """tqdm's `disable`: None hides the bar when stderr is not a terminal (logs, tests)."""
    return None if progress else True


def _claim_output_dir(output_dir: Path, config: ConvertConfig) -> None:
    """Creates the output folder and records its render settings, refusing a mismatch with earlier runs.

    Raises:
        ConvertError: the folder cannot be created, or holds JPGs made with other settings (a rerun
            would skip those and leave a folder of mixed sizes or polarities).
    """
    settings = {"size": config.render.size, "resample": config.render.resample,
                "polarity": config.render.polarity, "stroke_width": config.render.stroke_width,
                "padding": config.render.padding, "quality": config.quality}
    path = output_dir / SETTINGS_FILE
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConvertError(f"cannot create the output folder {output_dir}: {error.strerror or error}.") \
            from None
    if path.exists():
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError):
            before = None
        if isinstance(before, dict) and before != settings:
            changed = ", ".join(f"{key} {before.get(key)!r} -> {value!r}"
                                for key, value in settings.items() if before.get(key) != value)
            raise ConvertError(f"{output_dir} holds drawings converted with other settings ({changed}). "
                               "A rerun skips existing JPGs, so the folder would mix both: use another "
                               "--output_dir, or delete this one first.")
        if before == settings:
            return
    temporary = output_dir / f"{SETTINGS_FILE}.{os.getpid()}.part"
    try:
        temporary.write_text(json.dumps(settings, indent=1) + "\n")
        os.replace(temporary, path)
    except OSError as error:
        raise ConvertError(f"cannot write into {output_dir}: {error.strerror or error}.") from None


def _check_names(source: Source, output_dir: Path, limit: int) -> None:
    """Refuses a class whose folder would not lie inside `output_dir` or whose file names are too long.

    Checked before anything of the class is written, so one such class is refused with its reason and
    the others still convert (a too-long name would otherwise stop the whole run with ENAMETOOLONG).

    Raises:
        SourceError: the class name is unusable here.
    """
    problem = sources.label_problem(source.label)
    if problem:
        raise SourceError(f"{problem}; rename the file.")
    needed = writer.longest_name_bytes(source.label)
    if needed > limit:
        raise SourceError(f"its class name is {len(os.fsencode(source.label))} bytes long, so its file "
                          f"names would be up to {needed} bytes, beyond this file system's {limit}; "
                          "rename the file to a shorter class name.")
    if not writer.inside(output_dir / source.label, output_dir) or \
            os.path.realpath(output_dir / source.label) == os.path.realpath(output_dir):
        raise SourceError(f"its class folder {output_dir / source.label} resolves outside "
                          f"{output_dir} (a link?); remove it or rename the file.")


def _plan_class(source: Source, output_dir: Path, config: ConvertConfig) -> tuple[ClassReport, list]:
    """Chooses a class's drawings and keeps those not yet written.

    Returns:
        The class report (chosen, skipped, refused so far) and the `(file name, locator)` list to do.

    Raises:
        SourceError: the file cannot be used.
    """
    report = ClassReport(label=source.label, source=source.path)
    folder = output_dir / source.label
    if source.kind == "npy":
        bitmaps = sources.open_bitmaps(source.path)
        rows = sources.select_indices(len(bitmaps), config.per_class, config.seed, source.label)
        del bitmaps
        chosen = [(jpg_name(source.label, row), row) for row in rows.tolist()]
    else:
        selection = sources.select_drawings(source.path, config.per_class, config.seed, source.label,
                                            config.recognized_only)
        chosen = [(jpg_name(source.label, line.key_id), line) for line in selection.lines]
        report.refused += selection.malformed
        if selection.malformed:
            report.notes.append(f"skipped {selection.malformed} malformed line(s) "
                                f"(first: {selection.first_problem})")
        if selection.duplicates:
            report.notes.append(f"skipped {selection.duplicates} line(s) repeating a key_id")
        if not chosen:
            why = "no drawing the game recognised" if selection.unrecognized else "no usable drawing"
            raise SourceError(f"{source.path}: {why} (malformed lines: {selection.malformed}"
                              + (f", first: {selection.first_problem}" if selection.first_problem else "")
                              + ").")
    report.chosen = len(chosen)
    remove_partials(folder)
    done = existing_jpgs(folder)
    todo = [(name, locator) for name, locator in chosen if name not in done]
    report.skipped = len(chosen) - len(todo)
    if todo:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConvertError(f"cannot create {folder}: {error.strerror or error}.") from None
    return report, todo


def _chunks(plans: Iterable[tuple[Source, ClassReport, list]], output_dir: Path,
            config: ConvertConfig) -> Iterator[_Task]:
    for source, report, todo in plans:
        for start in range(0, len(todo), CHUNK_SIZE):
            yield _Task(kind=source.kind, path=source.path, label=source.label,
                        folder=output_dir / source.label, items=tuple(todo[start:start + CHUNK_SIZE]),
                        render=config.render, quality=config.quality)


def _run_tasks(tasks: list[_Task], workers: int) -> Iterator[_TaskResult]:
    """Runs tasks here (workers == 1) or in a pool, yielding results as they finish.

    Raises:
        ConvertError: a JPG could not be written (disk full, permissions).
    """
    try:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                yield _render_task(task)
            return
        # spawn, not fork: safe however many threads the parent runs, and identical on every OS.
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(workers, len(tasks)), initializer=_worker_init) as pool:
            yield from pool.imap_unordered(_render_task, tasks)
            # Let idle workers exit by themselves; leaving the block early (Ctrl-C) terminates them.
            pool.close()
            pool.join()
    except OSError as error:
        raise ConvertError(f"{error.filename or 'I/O error'}: {error.strerror or error}. Fix that (free "
                           "disk space, the folder's permissions) and rerun: finished JPGs are kept.") \
            from None


def _worker_init() -> None:
    """Ctrl-C is handled by the parent, which then terminates the pool (SIGTERM): a worker then
    removes the temporary file it is writing, if any, and exits at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_terminate)


def _on_terminate(*_) -> None:
    writer.discard_pending()
    os._exit(1)


def _render_task(task: _Task) -> _TaskResult:
    """Renders and writes one chunk (runs in a worker process or in-process)."""
    written = refused = 0
    first_problem = ""
    with contextlib.ExitStack() as stack:
        if task.kind == "npy":
            rows = sources.open_bitmaps(task.path)[[row for _, row in task.items]]
            drawings = zip((name for name, _ in task.items), rows)
            render = render_bitmap
        else:
            drawings = _read_lines(stack.enter_context(open(task.path, "rb")), task.items,
                                   sources.line_parser(task.path))
            render = render_strokes
        for name, drawing in drawings:
            try:
                if isinstance(drawing, ValueError):
                    raise drawing
                image = render(drawing, task.render)
            except ValueError as error:
                refused += 1
                first_problem = first_problem or f"{name}: {error}"
                continue
            write_jpeg_atomic(image, task.folder / name, task.quality)
            written += 1
    return _TaskResult(label=task.label, written=written, refused=refused, first_problem=first_problem)


def _read_lines(stream, items, parse) -> Iterator[tuple[str, object]]:
    """`(name, strokes)` per selected line, or `(name, ValueError)` where a line no longer parses."""
    for name, line in items:
        try:
            yield name, sources.read_drawing(stream, line, parse).strokes
        except ValueError as error:
            yield name, error
