"""The one exception type the command line turns into a one-line error, and the one place
that does the turning (for the command line and for a trainer's process alike)."""
from __future__ import annotations

import os
import sys
from typing import Callable


class WorkbenchError(Exception):
    """A problem the user can fix. The message is one line: what is wrong, and what to do.

    `exit_code` 2 means bad input (the command line's convention); other failures use 1.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CorpusError(WorkbenchError):
    """A corpus could not be found, read, decoded or is too small for the settings."""


class _ClosedOutput:
    """Standing in for a standard stream that was closed when the process started (Python
    then sets it to None): a command that writes to it fails in one line, one that does not
    runs as usual."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        raise WorkbenchError(f"standard {self.name} is closed, so there is nowhere to write the result; "
                             f"run the command with its {self.name} open (or redirected to a file)", exit_code=1)

    def flush(self) -> None:
        pass


def _usable_streams() -> None:
    """Closed standard streams replaced (stderr by /dev/null: the error must go somewhere
    harmless); and characters the terminal's encoding cannot show (PYTHONIOENCODING=ascii, a
    C locale) written as escapes instead of ending the command with a traceback."""
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    if sys.stdout is None:
        sys.stdout = _ClosedOutput("output")  # type: ignore[assignment]
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def reporting_errors(run: Callable[[], int]) -> int:
    """`run()`'s exit status, with every error a user can meet turned into one line on stderr
    that starts with `workbench: error:`; never a traceback (WORKBENCH_DEBUG=1 shows one for an
    OSError nobody foresaw)."""
    _usable_streams()
    try:
        return run()
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `workbench sample ... | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # what the file system refused that no check foresaw
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"workbench: error: {exc.strerror or exc}{where} (WORKBENCH_DEBUG=1 shows where)", file=sys.stderr)
        return 1
