"""Commands that open the terminal UI: `workbench` alone, `open`, `studio` (and `train`,
`resume`, `attach` when a terminal is there to draw in)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli.parser import sessions_dir
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import Session


def has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def require_terminal(headless: bool = False) -> None:
    """Without --headless the terminal UI opens, and it needs a terminal to draw in."""
    if not headless and not has_terminal():
        raise WorkbenchError("the terminal UI needs a terminal; add --headless to train with progress lines "
                             "in this one (or --detach to train in the background)")


def open_app(folder: Path, session: str | None = None, start: bool = False) -> int:
    from workbench.tui.app import run_app

    return run_app(folder, session=session, start=start)


def cmd_open(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    require_terminal()
    return open_app(sessions_dir(args), session.name)


def cmd_studio(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    if not has_terminal():
        raise WorkbenchError(f"the studio needs a terminal; without one use `workbench sample {session.name}`, "
                             f"`workbench probe {session.name} --prime TEXT` or `workbench score {session.name} FILE`")
    from workbench.tui.app import run_app

    return run_app(sessions_dir(args), studio=session.name, checkpoint=args.checkpoint, device=args.device,
                   precision=args.precision, quantize=args.quantize)
