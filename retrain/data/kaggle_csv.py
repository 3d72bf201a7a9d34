"""Kaggle Quick, Draw! CSV files (train_simplified/<class>.csv, test_simplified.csv), read row by row.

Rows are numbered 0, 1, ... among data rows; a malformed row is skipped and counted (BadRows), never
fatal, as `convert` does for .ndjson lines. Header, line and drawing checks are convert.sources' own
(csv_columns, iter_lines, csv_fields, load_json, drawing_from_record), so every reader of these files
refuses and skips the same things.
"""

from __future__ import annotations

from typing import Iterator, Optional

from convert import sources

CSV_SUFFIX = ".csv"
CSV_COLUMNS = ("countrycode", "drawing", "key_id", "recognized", "timestamp", "word")


class BadRows:
    """Counts malformed rows per file (skip and count, as `convert` does for .ndjson).

    A row is counted once however often it is read: training streams each file once per epoch and
    again for validation/testing counts, and "1472 malformed rows" for 9 bad ones misleads. Only the
    bad rows' positions are kept, so memory grows with the bad rows, not the file.
    """

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}
        self.notes: dict[str, str] = {}  # path -> one remark said once (e.g. a `word` column that disagrees)
        self._seen: dict[str, set] = {}

    def add(self, path: str, where: str, reason: str) -> None:
        seen = self._seen.setdefault(path, set())
        if where in seen:
            return
        seen.add(where)
        self.counts[path] = self.counts.get(path, 0) + 1
        self.first.setdefault(path, f"{where}: {reason}")

    def note(self, path: str, remark: str) -> None:
        self.notes.setdefault(path, remark)

    def lines(self) -> list[str]:
        """The warnings to print once at the end of a run."""
        return ([f"Warning: {count} malformed row(s) skipped in {path}, first {self.first[path]}"
                 for path, count in self.counts.items()]
                + [f"Note: {path}: {remark}" for path, remark in self.notes.items()])


def parse_csv_row(fields: list, columns: dict) -> tuple[str, Optional[str], tuple]:
    """One Kaggle CSV row -> (key_id, word or None, strokes).

    Args:
      fields: the row's fields (sources.csv_fields).
      columns: column name -> index, from the header.

    Raises:
      ValueError: missing fields, `drawing` not JSON strokes.
    """
    if len(fields) != len(columns):
        raise ValueError(f"{len(fields)} fields, the header has {len(columns)}")
    drawing, _ = sources.drawing_from_record({"drawing": sources.load_json(fields[columns["drawing"]])}, 0)
    key_id = fields[columns["key_id"]] if "key_id" in columns else ""
    word = fields[columns["word"]] if "word" in columns else None
    return key_id, word, drawing.strokes


def csv_header(path: str) -> dict:
    """Column name -> index of a Kaggle CSV file (convert.sources.csv_columns: BOM dropped).

    Raises:
      sources.SourceError: unreadable, not UTF-8, no header, or no `drawing` column.
    """
    return sources.csv_columns(path)


def word_note(path: str, label: str) -> Optional[str]:
    """The remark for a file whose first well-formed row's `word` names another class than its file
    name, or None (no `word` column, or they agree). One row is read."""
    bad = BadRows()
    for _ in iter_csv(path, bad, label):
        break
    return bad.notes.get(path)


def iter_csv(path: str, bad: BadRows, label: Optional[str] = None) -> Iterator[tuple[int, str, Optional[str], tuple]]:
    """(row, key_id, word, strokes) of every well-formed row of a CSV file; bad rows counted in `bad`.
    Rows are numbered 0, 1, ... among data rows (the header is not a row). Lines are read bounded
    (sources.iter_lines), so a file without newlines cannot fill memory.

    Args:
      label: the class the file holds (from its name), or None; a `word` column that names another
        class is said once in `bad.notes` (the file name decides the class).
    """
    columns = csv_header(path)
    with sources.open_drawing_file(path) as stream:
        lines = sources.iter_lines(stream)
        next(lines, None)  # the header
        row = -1
        for _, line in lines:
            if not line.strip():
                continue
            row += 1
            try:
                key_id, word, strokes = parse_csv_row(sources.csv_fields(line, columns), columns)
            except (ValueError, TypeError, KeyError) as error:
                bad.add(path, f"row {row}", str(error))
                continue
            if label is not None and word is not None and word != label and path not in bad.notes:
                bad.note(path, f"its `word` column says {word[:60]!r} (row {row}) but the file name says "
                               f"{label!r}; the file name decides the class. Rename the file if the "
                               f"column is right.")
            yield row, key_id, word, strokes
