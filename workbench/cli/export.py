"""`workbench export NAME --csv FILE --tensorboard DIR`: a session's history for other tools.

CSV (engine/metrics_csv.py) goes to FILE, replaced atomically, or to standard output for `-`;
TensorBoard event files (engine/tensorboard_log.py) go to DIR/NAME, appending only the steps
that folder does not hold yet. What was written is said on stderr, so stdout stays the CSV's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli.parser import sessions_dir
from workbench.engine.errors import WorkbenchError
from workbench.engine.files import write_text_atomic
from workbench.engine.session import Session, read_jsonl


def cmd_export(args: argparse.Namespace) -> int:
    if not args.csv and not args.tensorboard:
        raise WorkbenchError("say what to export: --csv FILE (- for standard output), --tensorboard DIR, or both")
    session = Session.open(sessions_dir(args), args.name)
    session.check_layout()
    logdir = None
    if args.tensorboard:
        from workbench.engine.tensorboard_log import checked_logdir

        logdir = checked_logdir(args.tensorboard)  # before any file is written: the package is there
    if args.csv:
        export_csv(session, args.csv)
    if logdir is not None:
        export_tensorboard(session, logdir)
    return 0


def export_csv(session: Session, target: str) -> None:
    from workbench.engine.metrics_csv import metrics_csv

    path = None if target == "-" else checked_csv_path(target)
    records = read_jsonl(session.metrics_path)
    text = metrics_csv(records)
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_text_atomic(path, text)
    upto = f", up to step {records[-1].get('step')}" if records else " (nothing logged yet: the header only)"
    print(f"csv: {len(records):,} rows{upto}, in {path}", file=sys.stderr)


def checked_csv_path(target: str) -> Path:
    path = Path(target).expanduser()
    if path.is_dir():
        raise WorkbenchError(f"--csv {target} is a folder; give a file name (or - for standard output)")
    if not path.parent.is_dir():
        raise WorkbenchError(f"--csv {target}: the folder {path.parent} does not exist")
    return path


def export_tensorboard(session: Session, logdir: Path) -> None:
    from workbench.engine.tensorboard_log import export_tensorboard as append_history

    live = session.read_config().tensorboard
    holder = session.lock_holder() if live and Path(live) == logdir else None
    if holder is not None:  # two writers of one folder could both append the same new steps
        print(f"tensorboard: nothing to do: the trainer of {session.name} (process {holder.get('pid')}) writes "
              f"{logdir / session.name} as it trains", file=sys.stderr)
        return
    folder, written = append_history(session, logdir)
    if written.values or written.samples:
        what = f"{written.values:,} values at {written.steps:,} steps and {written.samples:,} samples appended"
    else:
        what = "up to date: nothing new to append"
    print(f"tensorboard: {what} in {folder} (view with: tensorboard --logdir {logdir})", file=sys.stderr)
