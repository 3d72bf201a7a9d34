"""`--exclude_list FILE`: drawings to leave out of every split (e.g. what `qdretrain audit` flagged).

The file lists one record name per line, as in splits.json: the path relative to --image_dir
("cat/img_0001.jpg") or, for --quickdraw_dir, "<label>/<file name>#<row>". Blank lines and lines
starting with "#" are ignored. Removing records never moves the others between splits (the split hashes
each name alone), so a cleaned dataset keeps its test set minus the excluded drawings.
"""

from __future__ import annotations

import dataclasses

from retrain.data.dataset import ImageIndex
from common.errors import ConfigError


def read_exclude_list(path: str) -> set[str]:
    """The names in an exclude list.

    Raises:
      ConfigError: the file cannot be read.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.rstrip("\r\n") for line in handle]
    except OSError as error:
        raise ConfigError(f"Cannot read --exclude_list {path} ({error.strerror or error}); pass a text "
                          f"file with one image name (as in splits.json) per line.") from None
    return {line for line in lines if line.strip() and not line.startswith("#")}


def write_exclude_list(names, path: str, header: str = "") -> None:
    """Writes an exclude list (sorted, one name per line, optional "#" header lines)."""
    from common.atomic import atomic_write_bytes
    text = "".join(f"# {line}\n" for line in header.splitlines()) + "".join(f"{n}\n" for n in sorted(set(names)))
    atomic_write_bytes(path, text.encode("utf-8"))


def apply_exclude_list(index: ImageIndex, names: set[str]) -> tuple[ImageIndex, int]:
    """(the index without the listed records, how many were removed); unknown names are ignored."""
    kept = tuple(r for r in index.records if r.relpath not in names)
    return dataclasses.replace(index, records=kept), len(index.records) - len(kept)
