"""What several commands print the same way."""
from __future__ import annotations

import sys
from typing import IO, Any, Sequence

from workbench.engine.formats import table
from workbench.engine.session import Session


def print_table(rows: Sequence[Sequence[str]], out: IO[str] | None = None) -> None:
    """A header row and its rows, in aligned columns."""
    for line in table(rows):
        print(line, file=out or sys.stdout)


def checkpoint_line(session: Session, info: dict[str, Any]) -> str:
    """'[NAME @ step 500, latest checkpoint, cpu (2 threads)]': which model answered."""
    return f"[{session.name} @ step {info['step']}, {info['which']} checkpoint, {info['device']}]"
