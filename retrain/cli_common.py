"""Click helpers shared by every command: retrain.py-style flags in both spellings, error mapping."""

from __future__ import annotations

import functools
import sys

import click

from retrain.errors import QdretrainError


def flag(name: str, *decls: str, **kwargs):
    """`click.option` accepting retrain.py's underscore spelling and the dashed one.

    `flag("--how_many_training_steps", ...)` accepts `--how_many_training_steps` and
    `--how-many-training-steps`; the Python parameter is `how_many_training_steps`. Boolean pairs
    (`--fine_tune/--no_fine_tune`) get both spellings too; a bare identifier in `decls` renames the
    parameter.
    """
    on, _, off = name.partition("/")
    python_name = [d for d in decls if not d.startswith("-")] or [on[2:]]
    decls = tuple(d for d in decls if d.startswith("-"))

    def dashed(option: str) -> str:
        return "--" + option[2:].replace("_", "-")

    spellings = [name]
    if off and dashed(on) == on and dashed(off) != off:
        spellings.append(f" /{dashed(off)}")  # Click's syntax for an alias of the "off" flag only
    elif dashed(on) != on:
        spellings.append(f"{dashed(on)}/{dashed(off)}" if off else dashed(on))
    return click.option(*spellings, *decls, *python_name, **kwargs)


def user_errors(func):
    """Turns QdretrainError (and Ctrl-C) into a clean Click error: message, no traceback."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except QdretrainError as error:
            raise click.ClickException(str(error)) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted. Finished work is kept; rerun the same command to go on.", err=True)
            sys.exit(130)
    return wrapper
