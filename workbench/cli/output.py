"""What several commands print the same way."""
from __future__ import annotations

import json
import sys
from typing import IO, Any, Sequence

from workbench.engine.train.budget import spent, steps_done
from workbench.engine.errors import WorkbenchError
from workbench.engine.formats import table
from workbench.engine.sessions.session import Session


def print_table(rows: Sequence[Sequence[str]], out: IO[str] | None = None) -> None:
    """A header row and its rows, in aligned columns."""
    for line in table(rows):
        print(line, file=out or sys.stdout)


def print_json(value: Any, *, indent: int | None = None) -> None:
    """`value` as JSON on stdout: characters as themselves where stdout can write them, as
    \\u escapes where it cannot (a C locale, a pipe opened as ASCII), never an encoding error."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = json.dumps(value, indent=indent, ensure_ascii=True)
    print(text)


def load_notes(info: dict[str, Any], json_output: bool) -> None:
    """Say on stderr which damaged checkpoint was passed over for the one that answered, and
    what int8 weights cost (in --json output these travel in the object instead)."""
    if not json_output:
        for warning in info.get("warnings", []):
            print(f"warning: {warning}", file=sys.stderr)
        if info.get("quantized"):
            print(f"note: {info['quantized']}", file=sys.stderr)


def checkpoint_line(session: Session, info: dict[str, Any]) -> str:
    """'[NAME @ step 500, latest checkpoint, cpu (2 threads), bf16]': which model answered, where
    and with which weights."""
    precision = f", {info['precision']}" if info.get("precision") else ""
    return f"[{session.name} @ step {info['step']}, {info['which']} checkpoint, {info['device']}{precision}]"


def closing_lines(session: Session, status: dict[str, Any] | None = None) -> list[str]:
    """The lines that end a headless run: which session it was, where it is, and the commands
    that come next (sample it, train on, look at it)::

        session anna-lstm-128x2-20261202-1405 (sessions/anna-lstm-...): finished at step 1,000
          sample it:   workbench sample anna-lstm-128x2-20261202-1405 --length 300
          train on:    workbench resume anna-lstm-128x2-20261202-1405 --steps 2000
          look at it:  workbench open anna-lstm-128x2-20261202-1405   (studio: workbench studio ...)
    """
    name = session.name
    status = status if status is not None else session.live_status()
    step = steps_done(status)
    lines = [f"session {name} ({session.root}): {status.get('state', 'stopped')} at step {step:,}"]
    if session.has_checkpoint():
        lines.append(f"  sample it:   workbench sample {name} --length 300")
    try:
        met = spent(session.read_config(), status)
    except WorkbenchError:
        met = None
    more = f" --steps {max(step * 2, step + 1):d}" if met else ""
    lines.append(f"  train on:    workbench resume {name}{more}")
    lines.append(f"  look at it:  workbench open {name}   (studio: workbench studio {name})")
    return lines
