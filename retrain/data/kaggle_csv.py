"""Kaggle Quick, Draw! CSV files (train_simplified/<class>.csv, test_simplified.csv), read row by row.

Rows are numbered 0, 1, ... among data rows; a malformed row is skipped and counted (BadRows), never
fatal, as `convert` does for .ndjson lines.
"""

from __future__ import annotations

import csv
import json
from typing import Iterator, Optional

from convert import sources

CSV_SUFFIX = ".csv"
CSV_COLUMNS = ("countrycode", "drawing", "key_id", "recognized", "timestamp", "word")


class BadRows:
    """Counts malformed rows per file (skip and count, as `convert` does for .ndjson)."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def add(self, path: str, where: str, reason: str) -> None:
        self.counts[path] = self.counts.get(path, 0) + 1
        self.first.setdefault(path, f"{where}: {reason}")


def parse_csv_row(fields: list, columns: dict) -> tuple[str, Optional[str], tuple]:
    """One Kaggle CSV row -> (key_id, word or None, strokes).

    Args:
      fields: the row as parsed by the csv module (quoted JSON in `drawing` is one field).
      columns: column name -> index, from the header.

    Raises:
      ValueError: missing fields, `drawing` not JSON strokes.
    """
    if len(fields) != len(columns):
        raise ValueError(f"{len(fields)} fields, the header has {len(columns)}")
    drawing, _ = sources.parse_drawing(
        json.dumps({"drawing": json.loads(fields[columns["drawing"]])}).encode(), 0)
    key_id = fields[columns["key_id"]] if "key_id" in columns else ""
    word = fields[columns["word"]] if "word" in columns else None
    return key_id, word, drawing.strokes


def csv_header(path: str) -> dict:
    """Column name -> index of a Kaggle CSV file.

    Raises:
      sources.SourceError: no header, or no `drawing` column.
    """
    with open(path, newline="", encoding="utf-8") as stream:
        header = next(csv.reader(stream), None)
    if not header or "drawing" not in header:
        raise sources.SourceError(f"{path} has no `drawing` column in its header ({header}); a Kaggle "
                                  f"train_simplified/test_simplified CSV starts with "
                                  f"{','.join(CSV_COLUMNS)}.")
    return {name.strip(): i for i, name in enumerate(header)}


def iter_csv(path: str, bad: BadRows) -> Iterator[tuple[int, str, Optional[str], tuple]]:
    """(row, key_id, word, strokes) of every well-formed row of a CSV file; bad rows counted in `bad`.
    Rows are numbered 0, 1, ... among data rows (the header is not a row)."""
    columns = csv_header(path)
    with open(path, newline="", encoding="utf-8", errors="replace") as stream:
        reader = csv.reader(stream)
        next(reader)
        row = -1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                row += 1
                bad.add(path, f"row {row}", str(error))
                continue
            if not fields:
                continue
            row += 1
            try:
                key_id, word, strokes = parse_csv_row(fields, columns)
            except (ValueError, TypeError, KeyError) as error:
                bad.add(path, f"row {row}", str(error))
                continue
            yield row, key_id, word, strokes
