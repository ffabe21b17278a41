"""`workbench` and its subcommands.

    parser.py   the grammar: every subcommand and option
    train.py    train, resume (in this terminal, or --detach)
    control.py  ps, pause, stop, attach: background trainers from any shell
    inspect.py  sessions, sample, probe, score
    app.py      open, studio and `workbench` alone: the terminal UI
    export.py   export: a session's metrics as CSV, its metrics and samples for TensorBoard
    serve.py    serve: the terminal UI in a web browser (web_server.py, web_access.py)
    output.py   tables and lines several commands print

Nothing here imports torch at module level: `workbench --help` and `workbench sessions`
answer at once. Every user error becomes one line on stderr that starts with
`workbench: error:` and exit status 2; never a traceback (engine/errors.reporting_errors).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from workbench.cli import app, control, export, inspect, serve, train
from workbench.cli.parser import build_parser, checked_sessions_dir
from workbench.engine.errors import reporting_errors
from workbench.engine.sessions.session import default_sessions_dir


def cmd_bench(args: argparse.Namespace) -> int:
    from workbench.bench import run_bench

    return run_bench(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": train.cmd_train, "resume": train.cmd_resume,
    "ps": control.cmd_ps, "pause": control.cmd_pause, "stop": control.cmd_stop, "attach": control.cmd_attach,
    "sessions": inspect.cmd_sessions, "sample": inspect.cmd_sample, "probe": inspect.cmd_probe,
    "score": inspect.cmd_score, "open": app.cmd_open, "studio": app.cmd_studio, "bench": cmd_bench,
    "export": export.cmd_export, "serve": serve.cmd_serve,
}


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        if not app.has_terminal():
            parser.print_help()  # piped or scripted: there is no screen to open
            return 0
        return app.open_app(checked_sessions_dir(Path(args.home_sessions_dir or default_sessions_dir())))
    return COMMANDS[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    return reporting_errors(lambda: _dispatch(argv))


if __name__ == "__main__":
    sys.exit(main())
