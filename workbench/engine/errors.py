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


def reporting_errors(run: Callable[[], int]) -> int:
    """`run()`'s exit status, with every error a user can meet turned into one line on stderr
    that starts with `workbench: error:`; never a traceback (WORKBENCH_DEBUG=1 shows one for an
    OSError nobody foresaw)."""
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
