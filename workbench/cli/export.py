"""`workbench export NAME --csv FILE --tensorboard DIR`: a session's history for other tools.

CSV (engine/export/metrics_csv.py) goes to FILE by the rules for paths a user names
(engine/export/user_files.py: a file is replaced atomically and keeps its mode, a link is followed, a
pipe or a device such as /dev/stdout is streamed into, `-` is standard output, anything else
is refused); TensorBoard event files (engine/export/tensorboard_log.py) go to DIR/NAME, appending only
the steps that folder does not hold yet. Both stream the history, in memory that does not grow
with it. What was written is said on stderr, so stdout stays the CSV's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli.parser import sessions_dir
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import Session
from workbench.engine.export.user_files import STDOUT, OutputTarget, output_target


def cmd_export(args: argparse.Namespace) -> int:
    if not args.csv and not args.tensorboard:
        raise WorkbenchError("say what to export: --csv FILE (- for standard output), --tensorboard DIR, or both")
    session = Session.open(sessions_dir(args), args.name)
    session.check_layout()
    # Every target checked before anything is written: a refused one changes nothing.
    target = output_target(args.csv, "--csv") if args.csv else None
    logdir = None
    if args.tensorboard:
        from workbench.engine.export.tensorboard_log import checked_logdir

        logdir = checked_logdir(args.tensorboard)  # and the package is there
    if target is not None:
        export_csv(session, target)
    if logdir is not None:
        export_tensorboard(session, logdir)
    return 0


def export_csv(session: Session, target: OutputTarget) -> None:
    from workbench.engine.export.metrics_csv import write_metrics_csv

    with target.open() as out:
        written = write_metrics_csv(session.metrics_path, out)
    damaged = f"; {written.damaged:,} damaged line{'s' if written.damaged != 1 else ''} of the history skipped" \
        if written.damaged else ""
    if target.how == STDOUT:
        if damaged:
            print(f"csv: {written.rows:,} rows{damaged}", file=sys.stderr)
        return
    upto = f", up to step {written.last_step}" if written.rows else " (nothing logged yet: the header only)"
    print(f"csv: {written.rows:,} rows{upto}, in {target.shown}{damaged}", file=sys.stderr)


def export_tensorboard(session: Session, logdir: Path) -> None:
    from workbench.engine.export.tensorboard_log import export_tensorboard as append_history

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
