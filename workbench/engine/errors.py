"""The one exception type the command line turns into a one-line error."""
from __future__ import annotations


class WorkbenchError(Exception):
    """A problem the user can fix. The message is one line: what is wrong, and what to do.

    `exit_code` 2 means bad input (the command line's convention); other failures use 1.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CorpusError(WorkbenchError):
    """A corpus could not be found, read, decoded or is too small for the settings."""
