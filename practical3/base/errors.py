"""Errors a user can fix: their message names the file or setting at fault and the fix.

The command line prints any ``UserError`` as one line and exits 1; every other exception is a
bug and keeps its traceback. Nothing here imports torch, so the CLI can catch these cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_LISTED_PROBLEMS = 20


class UserError(Exception):
    """Base of every error whose message already says what is wrong and how to fix it."""


class ConfigError(UserError):
    """A setting that cannot work: unknown profile, model or loss, a device that is absent."""


class DataError(UserError):
    """Bad or missing input data; the message names each file at fault and how to fix it."""

    def __init__(self, problems: Sequence[str], fix: str):
        self.problems = list(problems)
        listed = self.problems[:MAX_LISTED_PROBLEMS]
        more = len(self.problems) - len(listed)
        lines = [*listed, f"... and {more} more problems"] if more else listed
        super().__init__("\n".join([*lines, f"Fix: {fix}"]))


class DownloadError(UserError):
    """The download could not finish; the message says why and what to do."""


class OutputError(UserError):
    """A place that cannot be written: a full disk, a file-size limit, a read-only folder."""


class BusyError(UserError):
    """A folder another process is writing now; the message names that process."""


class RunError(UserError):
    """A run folder or checkpoint that cannot be used as asked (missing, damaged, another run)."""


class DivergedError(RunError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


class SetupError(UserError):
    """The Colab or Kaggle set-up could not finish; the message names the step and the fix."""


class ResultsError(UserError):
    """A results folder that lacks a file the figures or the report read."""


class TemplateError(UserError):
    """A report placeholder the results cannot fill; the message names it and the template."""
