"""Exceptions whose messages say what to do. The CLI turns them into Click errors (no traceback)."""


class QdretrainError(Exception):
    """Base class: a problem the user can fix; the message says how."""


class ModuleUnavailableError(QdretrainError):
    """A TF-Hub module could not be downloaded or loaded."""


class DatasetError(QdretrainError):
    """The image folder cannot be used for training as it is."""


class ConfigError(QdretrainError):
    """Options that do not go together."""


class ExportVerificationError(QdretrainError):
    """An exported artifact does not give the trained model's answers."""


class OutputError(QdretrainError):
    """A folder the run must write to is not writable (read-only, full disk, not a folder)."""


class TrainingDivergedError(QdretrainError):
    """The loss became NaN or infinite: the run stopped and wrote no model."""
