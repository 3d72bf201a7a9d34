"""`--exclude_list FILE`: drawings to leave out of every split (e.g. what `qdretrain audit` flagged).

The file lists one record name per line, as in splits.json: the path relative to --image_dir
("cat/img_0001.jpg") or, for --quickdraw_dir, "<label>/<file name>#<row>". Blank lines and lines
starting with "#" are ignored. Removing records never moves the others between splits (the split hashes
each name alone), so a cleaned dataset keeps its test set minus the excluded drawings.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from retrain.data.dataset import ImageIndex
from common.errors import ConfigError


def read_exclude_list(path: str) -> set[str]:
    """The names in an exclude list (Windows line ends and a UTF-8 byte-order mark dropped).

    Raises:
      ConfigError: the file cannot be read or is not UTF-8 text.
    """
    try:
        with open(path, encoding="utf-8-sig") as handle:
            lines = [line.rstrip("\r\n") for line in handle]
    except OSError as error:
        raise ConfigError(f"Cannot read --exclude_list {path} ({error.strerror or error}); pass a text "
                          f"file with one image name (as in splits.json) per line.") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"--exclude_list {path} is not UTF-8 text (byte {error.start}); save it as UTF-8 "
                          f"with one image name (as in splits.json) per line.") from None
    return {line for line in lines if line.strip() and not line.startswith("#")}


def match_note(path: str, names: set[str], matched: int, examples=()) -> str:
    """One line: how many of the list's names matched a record, with unmatched examples (a trailing
    space, `../` or an absolute path is a name that matches nothing, and would otherwise pass silently)."""
    note = f"{matched} of {len(names)} names in --exclude_list {path} matched"
    unmatched = len(names) - matched
    if unmatched:
        shown = ", ".join(repr(n) for n in sorted(examples)[:3])
        note += (f"; {unmatched} match nothing (e.g. {shown}): names are paths relative to --image_dir "
                 f"(\"cat/img_0001.jpg\") or \"<label>/<file>#<row>\", exactly as in splits.json")
    return note


def drop_empty_classes(labels, counts: dict) -> tuple:
    """The labels that keep at least one drawing (an excluded class is no output class)."""
    return tuple(label for label in labels if counts.get(label, 0))


def write_exclude_list(names, path: str, header: str = "") -> None:
    """Writes an exclude list (sorted, one name per line, optional "#" header lines)."""
    from common.atomic import atomic_write_bytes
    text = "".join(f"# {line}\n" for line in header.splitlines()) + "".join(f"{n}\n" for n in sorted(set(names)))
    atomic_write_bytes(path, text.encode("utf-8"))


def apply_exclude_list(index: ImageIndex, names: set[str]) -> tuple[ImageIndex, int]:
    """(the index without the listed records, how many were removed: as names are unique, also how
    many of `names` matched).

    A class whose every record is listed is dropped as an output class (a model must not predict a
    class it never saw); the others keep their order and are re-indexed.
    """
    kept = [r for r in index.records if r.relpath not in names]
    removed = len(index.records) - len(kept)
    labels = drop_empty_classes(index.labels, Counter(r.label for r in kept))
    if labels != index.labels:
        position = {label: i for i, label in enumerate(labels)}
        kept = [dataclasses.replace(r, label_index=position[r.label]) for r in kept]
    return dataclasses.replace(index, labels=labels, records=tuple(kept)), removed
