"""Progress bars for long work: live on a terminal, a line every 30 s in a log file or CI."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(**kwargs) -> tqdm:
    """A tqdm bar on stderr with rate and ETA; redrawn rarely when stderr is not a terminal."""
    interactive = sys.stderr.isatty()
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("mininterval", 0.2 if interactive else 30.0)
    kwargs.setdefault("dynamic_ncols", interactive)
    return tqdm(**kwargs)
