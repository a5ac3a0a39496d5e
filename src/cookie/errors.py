"""User-facing errors: one line naming the file, column or region at fault; and the
interruption of a run by a signal."""

from __future__ import annotations


class CookieError(Exception):
    """An error caused by the user's input; the CLI prints it as one line and exits non-zero."""


class ConfigError(CookieError):
    """The dataset config is invalid."""


class DataError(CookieError):
    """A data file is missing, unreadable or holds invalid values."""


class TrainingDiverged(ConfigError):
    """Training produced a non-finite loss or embedding (the settings made it diverge)."""


class Interrupted(BaseException):  # noqa: N818 - a signal, not an error: `except Exception` lets it by
    """The run was stopped by a signal (SIGINT, SIGTERM); the CLI exits with 128 + signum."""

    def __init__(self, signum: int, note: str = "") -> None:
        super().__init__(signum, note)
        self.signum = int(signum)
        self.note = note

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        import signal

        name = signal.Signals(self.signum).name
        return f"interrupted by {name}" + (f"; {self.note}" if self.note else "")
