"""What long work tells the user: one-line messages on stderr, and progress bars (live on a terminal,
a line every 30 s in a log file or CI)."""

from __future__ import annotations

import sys

import click
from tqdm import tqdm


def echo(message: str) -> None:
    """One line for the user on stderr (stdout stays for results a script may read)."""
    click.echo(message, err=True)


def progress_bar(**kwargs) -> tqdm:
    """A tqdm bar on stderr with rate and ETA; redrawn rarely when stderr is not a terminal."""
    interactive = sys.stderr.isatty()
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("mininterval", 0.2 if interactive else 30.0)
    kwargs.setdefault("dynamic_ncols", interactive)
    return tqdm(**kwargs)
