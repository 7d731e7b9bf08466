"""User-facing errors: one clear line naming the culprit and what was expected."""

from __future__ import annotations


class GenclfError(Exception):
    """Base class of every error caused by bad input; the CLI prints it on one line and exits 2."""

    def __init__(self, culprit: str, expected: str):
        self.culprit = str(culprit)
        self.expected = expected
        super().__init__(f"{self.culprit}: {expected}")


class DataError(GenclfError, ValueError):
    """A dataset file, folder, spec or array is missing, corrupt or inconsistent (a ValueError too, as
    scikit-learn expects of bad input)."""


class ConfigError(GenclfError, ValueError):
    """A configuration key or value is unknown or has the wrong type."""


class CheckpointError(GenclfError):
    """A checkpoint folder is missing, incomplete or belongs to another kind of model."""


class TrainingError(GenclfError):
    """Training diverged (NaN/inf loss) or cannot proceed."""
