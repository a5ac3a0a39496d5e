"""User-facing errors: one line naming the file, column or region at fault."""

from __future__ import annotations


class CookieError(Exception):
    """An error caused by the user's input; the CLI prints it as one line and exits non-zero."""


class ConfigError(CookieError):
    """The dataset config is invalid."""


class DataError(CookieError):
    """A data file is missing, unreadable or holds invalid values."""


class TrainingDiverged(ConfigError):
    """Training produced a non-finite loss or embedding (the settings made it diverge)."""
