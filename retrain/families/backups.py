"""Training backups (BackupAndRestore folders), one rule for every model family: a backup is resumed
only by the run that made it (its run signature), and a damaged one is moved aside, never a dead end.

A run killed while BackupAndRestore writes (kill -9, full disk, power loss) can leave a truncated
checkpoint; tf_keras then fails every rerun with `IndexError: Read less bytes than requested`. Reading
every tensor of the checkpoint first finds that in a second, before fit restores it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from typing import Callable, Iterable, Optional

from common.atomic import read_json, write_json
from common.errors import ConfigError

CHIEF = "chief"  # BackupAndRestore's folder for the chief's (everyone's) backup


def _readable(prefix: str) -> Optional[str]:
    """None if every tensor of checkpoint `prefix` reads back, else why not."""
    from common.tfcompat import tf
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
    from common.tfcompat import tf
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


def run_signature(phase: str, identity: str, labels: Iterable[str], training_names: Iterable[str],
                  schedule: dict) -> dict:
    """What a backup must match to be resumed: the phase, what is trained (a module fingerprint or a
    native architecture), the labels in order, the training drawings and the schedule.

    Args:
      phase: "head", "fine_tune" or "native".
      identity: the module's fingerprint, or "native:<architecture>".
      labels: the class names in model output order (a shifted list must not resume).
      training_names: the training records' stable names (their digest is kept).
      schedule: steps, batch size, learning rate, optimizer, ...: plain JSON values.
    """
    digest = hashlib.sha1("\n".join(training_names).encode()).hexdigest()
    return {"phase": phase, "identity": identity, "labels": list(labels), "training_images": digest,
            **schedule}


def weights_fingerprint(model) -> str:
    """The names and shapes of a model's weights, hashed: a net whose design changed (another release's
    `quickdraw_cnn`, another pooling) gets another fingerprint, so its old backup is refused with the
    clear message instead of failing inside the checkpoint restore."""
    shapes = sorted(f"{weight.name}:{tuple(weight.shape)}" for weight in model.weights)
    return hashlib.sha1("\n".join(shapes).encode()).hexdigest()[:12]


def signature_path(backup: str) -> str:
    return backup.rstrip(os.sep) + ".run.json"


def check_backup(backup: str, signature: dict, is_chief: bool, echo: Optional[Callable[[str], None]] = None) -> None:
    """A backup is only resumed by the run that made it; a damaged one is moved aside first.

    Args:
      backup: the BackupAndRestore folder.
      signature: this run's `run_signature`.
      is_chief: only the chief writes the signature.
      echo: where the one-line messages go.

    Raises:
      ConfigError: the backup belongs to a different run, or carries no signature (made before
        signatures existed, or by another tool): resuming it could ship a model with shifted labels.
    """
    if echo is None:
        from common.progress import echo
    path = signature_path(backup)
    chief = os.path.join(backup, CHIEF)

    def has_backup() -> bool:
        return os.path.isdir(chief) and bool(os.listdir(chief))
    if has_backup():
        try:
            recorded = read_json(path)
        except (OSError, ValueError):
            recorded = None
        if recorded != signature:
            raise ConfigError(
                f"{backup} holds the backup of an interrupted run with other settings (data, labels, "
                f"architecture/module or schedule). Rerun that command to finish it, or delete {backup} "
                f"(and {path}) to start this one from scratch, or pass another --checkpoint_dir.")
        recover_damaged_backup(backup, echo)  # a truncated backup is moved aside, not resumed from
    if has_backup():
        echo(f"Found a backup in {backup}: resuming the interrupted run from it.")
    elif is_chief:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_json(signature, path)


def discard_backups(backups: Iterable[str]) -> None:
    """Removes backups and their run signatures (a diverged run's must not block the rerun)."""
    for backup in backups:
        shutil.rmtree(backup, ignore_errors=True)
        if os.path.exists(signature_path(backup)):
            os.remove(signature_path(backup))
