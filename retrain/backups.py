"""Damaged training backups: found before a run resumes from one, moved aside, never a dead end.

A run killed while BackupAndRestore writes (kill -9, full disk, power loss) can leave a truncated
checkpoint; tf_keras then fails every rerun with `IndexError: Read less bytes than requested`. Reading
every tensor of the checkpoint first finds that in a second, before fit restores it.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

CHIEF = "chief"  # BackupAndRestore's folder for the chief's (everyone's) backup


def _readable(prefix: str) -> Optional[str]:
    """None if every tensor of checkpoint `prefix` reads back, else why not."""
    from retrain.tfcompat import tf
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # IndexError, DataLossError, OutOfRangeError, NotFoundError...: all "damaged"
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return None


def _move_aside(path: str) -> str:
    target = f"{path}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    os.replace(path, target)
    return target


def recover_damaged_backup(backup_dir: str, echo: Callable[[str], None]) -> bool:
    """Checks the backup in `backup_dir`; keeps the newest good checkpoint, or moves it all aside.

    Args:
      backup_dir: a BackupAndRestore folder (its checkpoints are in `chief/`).
      echo: where the one-line message goes.

    Returns:
      True if a damaged backup was found (the run then resumes from an older good checkpoint or, when
      there is none, starts afresh); False if there was nothing to resume or it is intact.
    """
    from retrain.tfcompat import tf
    chief = os.path.join(backup_dir, CHIEF)
    if not os.path.isdir(chief):
        return False
    state = tf.train.get_checkpoint_state(chief)
    paths = list(state.all_model_checkpoint_paths) if state else []
    if state and state.model_checkpoint_path and state.model_checkpoint_path not in paths:
        paths.append(state.model_checkpoint_path)
    if not paths:
        if not os.listdir(chief):
            return False
        problem = "no readable checkpoint index"
    else:
        paths = [p if os.path.isabs(p) else os.path.join(chief, p) for p in paths]
        problem = _readable(paths[-1])
        if problem is None:
            return False
        for older in reversed(paths[:-1]):  # tf_keras keeps one, but an older good one is worth a try
            if _readable(older) is None:
                tf.train.update_checkpoint_state(chief, older, all_model_checkpoint_paths=[older])
                echo(f"The training backup {paths[-1]} is damaged ({problem}); resuming from the "
                     f"previous good one, {older}.")
                return True
    try:
        moved = _move_aside(backup_dir)
    except FileNotFoundError:  # another worker moved it first
        moved = f"{backup_dir}.damaged-*"
    echo(f"The training backup in {backup_dir} is damaged ({problem}; the last run was probably killed "
         f"while writing it or the disk was full). Moved it to {moved} and starting training afresh.")
    return True
