"""Background trainers from any shell: `ps`, `pause`, `stop`, `attach` (and the unpause that
`resume` does for a live trainer). They reach a trainer over its control socket and read its
session folder; none imports torch."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable

from workbench.cli.output import print_json, print_table
from workbench.cli.parser import sessions_dir
from workbench.engine.control import commands as cmd
from workbench.engine.control.client import ping, send_command
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.follow import SessionFollower, SessionUpdate
from workbench.engine.formats import device_now, when
from workbench.engine.control.narrate import Line, Narrator, nats_text
from workbench.engine.machine.processes import is_stopped
from workbench.engine.sessions.progress import stalled_seconds
from workbench.engine.sessions.session import ACTIVE_STATES, Session, iter_sessions

POLL_SECONDS = 0.25  # how often `attach --headless` reads the session folder


def checked(reply: dict[str, Any]) -> dict[str, Any]:
    if not reply.get("ok"):
        raise WorkbenchError(f"the trainer refused: {reply.get('error', 'no reason given')}", exit_code=1)
    return reply


def wait_for_state(session: Session, done: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
    """Ping the trainer until `done(reply)` or `timeout` seconds; returns the last reply."""
    deadline = time.monotonic() + timeout
    reply = checked(ping(session))
    while not done(reply) and time.monotonic() < deadline:
        time.sleep(0.1)
        reply = checked(ping(session))
    return reply


def unpause(session: Session) -> int:
    before = checked(send_command(session, cmd.Resume()))
    reply = wait_for_state(session, lambda r: r.get("state") != "paused", 5.0)
    state, step, pid = reply.get("state"), reply.get("step"), reply.get("pid")
    if before.get("state") == "running":
        print(f"session {session.name} is already running at step {step} (process {pid})")
    elif state == "paused":
        print(f"resume requested; session {session.name} is still paused at step {step} (process {pid})")
    else:
        print(f"session {session.name} is {state} at step {step} (process {pid})")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    checked(send_command(session, cmd.Pause()))
    # The trainer pauses between steps: after the current one (and its evaluation, if due).
    reply = wait_for_state(session, lambda r: r.get("state") != "running", 10.0)
    if reply.get("state") == "paused":
        print(f"session {session.name} paused at step {reply.get('step')}; `workbench resume {session.name}` continues it")
    else:
        print(f"pause requested; session {session.name} is {reply.get('state')} at step {reply.get('step')} "
              "and pauses after its current step")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    reply = checked(send_command(session, cmd.Stop()))
    holder = session.lock_holder() or {}
    print(f"stopping {session.name} at step {reply.get('step')}: saving a checkpoint ...", file=sys.stderr, flush=True)
    deadline = time.monotonic() + args.timeout
    while session.lock_holder() is not None:  # the lock goes with the process: then it has exited
        if time.monotonic() >= deadline:
            raise WorkbenchError(f"the trainer of {session.name!r} (process {holder.get('pid')}) is still finishing "
                                 f"after {args.timeout:g} s; see `workbench ps`", exit_code=1)
        time.sleep(0.1)
    status = session.live_status()
    if status.get("state") == "failed":
        raise WorkbenchError(f"session {session.name!r} failed while stopping: {status.get('error')}", exit_code=1)
    print(f"session {session.name} {status.get('state')} at step {status.get('step')} "
          f"(checkpoint at step {status.get('checkpoint_step')})")
    return 0


# -- ps ---------------------------------------------------------------------------------------
def trainer_rows(folder: Any, include_failed: bool) -> tuple[list[dict[str, Any]], int]:
    """One row per running trainer (and per failed session when asked); how many failed."""
    rows, failed = [], 0
    for session in iter_sessions(folder):
        holder = session.lock_holder()
        if holder is not None:
            status = session.read_status()
            ours = status.get("pid") == holder.get("pid") and status.get("state") in ACTIVE_STATES
            rows.append({"session": session.name, "pid": holder.get("pid"), "host": holder.get("host"),
                         "state": status["state"] if ours else "starting", "step": status.get("step", 0),
                         "device": status.get("device") if ours else None, "shape": status.get("shape") if ours else None,
                         "chars_per_sec": status.get("chars_per_sec") if ours else None,
                         "eta_seconds": status.get("eta_seconds") if ours else None,
                         "stalled_seconds": _rounded(stalled_seconds(status)) if ours else None,
                         "threads": status.get("threads") if ours else None,
                         "suspended": is_stopped(holder.get("pid")),
                         "started": status.get("started") if ours else holder.get("started"),
                         "error": None, "path": str(session.root)})
            continue
        status = session.live_status()
        if status.get("state") == "failed":
            failed += 1
            if include_failed:
                rows.append({"session": session.name, "pid": status.get("pid"), "host": None, "state": "failed",
                             "step": status.get("step", 0), "device": status.get("device"), "shape": status.get("shape"),
                             "chars_per_sec": None, "eta_seconds": None, "stalled_seconds": None,
                             "threads": None, "suspended": False,
                             "started": status.get("started"), "error": status.get("error"), "path": str(session.root)})
    return rows, failed


def _rounded(seconds: float | None) -> float | None:
    return round(seconds, 1) if seconds is not None else None


def state_text(row: dict[str, Any]) -> str:
    """'running'; 'stopped (kill -CONT 123)' for a trainer stopped by a signal; 'running (no
    step for 45 s)' when it has gone quiet for another reason."""
    if row.get("suspended"):
        return f"stopped (kill -CONT {row['pid']})"
    quiet = row.get("stalled_seconds")
    return f"{row['state']} (no step for {quiet:,.0f} s)" if quiet is not None else str(row["state"])


def where_text(row: dict[str, Any]) -> str:
    """'cpu (1 thread)', '2 x cpu, gloo', 'cuda:0 (NVIDIA H200)' or '-'."""
    return row.get("shape") or device_now(row.get("device"), row.get("threads")) or "-"


def cmd_ps(args: argparse.Namespace) -> int:
    folder = sessions_dir(args)
    rows, failed = trainer_rows(folder, args.all)
    if args.json:
        print_json(rows, indent=2)
        return 0
    if not rows:
        print(f"no trainers running in {folder}")
    else:
        print_table([("SESSION", "PID", "STATE", "STEP", "CHARS/S", "ON", "SINCE")] +
                    [(r["session"], str(r["pid"] or ""), state_text(r), str(r["step"]),
                      f"{r['chars_per_sec']:,.0f}" if r["chars_per_sec"] else "-", where_text(r),
                      when(r["started"], seconds=True) if r["started"] else "") for r in rows])
        for r in rows:
            if r["error"]:
                print(f"{r['session']}: failed: {r['error']}")
    if failed and not args.all:
        print(f"({failed} session{'s' if failed > 1 else ''} failed; `workbench ps --all` shows them)", file=sys.stderr)
    return 0


# -- attach ------------------------------------------------------------------------------------
class _AttachView:
    """Prints a session's new records as the trainer's own progress lines."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.narrator = Narrator(status.get("total_steps"))
        self.ended: dict[str, Any] | None = None

    def note_history(self, metrics: list[dict[str, Any]]) -> None:
        for record in metrics:
            self.narrator.metrics(record)  # the last estimate and the best, for the lines to come

    def show(self, update: SessionUpdate) -> None:
        if update.reset:
            print("(the history was rewound: the session resumed from an earlier checkpoint)", flush=True)
            self.narrator.forget()
        items = [(r.get("step", 0), 0, r) for r in update.metrics]
        items += [(r.get("step", 0), 1, r) for r in update.samples]
        items += [(r.get("step", 0), 2, r) for r in update.events]
        items.sort(key=lambda item: (_order(item[0]), item[1]))
        for _, source, record in items:
            if source == 0:
                lines = self.narrator.metrics(record)
            elif source == 1:
                lines = [self.narrator.sample(record)]
            else:
                lines = self.narrator.event(record)
                if record.get("kind") in ("finished", "failed"):
                    self.ended = record
            _print_lines(lines)


class StallNotice:
    """One line when a running trainer goes quiet for far longer than its usual interval, and
    one when its steps come again (engine/sessions/progress.py says when that is)."""

    def __init__(self) -> None:
        self.since: float | None = None  # the `updated` time of the status that went quiet

    def check(self, status: dict[str, Any], now: float | None = None) -> str | None:
        """The line printed, if any."""
        quiet = stalled_seconds(status, now)
        line = None
        if quiet is not None and self.since is None:
            self.since = status.get("updated")
            usual = status.get("report_seconds")
            line = (f"no step for {quiet:,.0f} s at step {status.get('step')} (usually one report every "
                    f"{usual:.1f} s); the trainer may be stalled" if isinstance(usual, (int, float)) else
                    f"no step for {quiet:,.0f} s at step {status.get('step')}; the trainer may be stalled")
        elif self.since is not None and (quiet is None or status.get("updated") != self.since):
            gap = (status.get("updated") or 0) - (self.since or 0)
            line = (f"steps again at step {status.get('step')}, after {gap:,.0f} s" if status.get("state") == "running"
                    else f"the quiet spell ended: {status.get('state')} at step {status.get('step')}")
            self.since = None
        if line:
            print(line, file=sys.stderr, flush=True)
        return line


def _order(step: Any) -> float:
    return float(step) if isinstance(step, (int, float)) else 0.0


def _print_lines(lines: list[Line]) -> None:
    for line in lines:
        print(line.text, file=sys.stderr if line.severity == "warning" else sys.stdout, flush=True)


def _print_history(session: Session, update: SessionUpdate, status: dict[str, Any], best: float | None) -> None:
    metrics = update.metrics
    state = status.get("state", "created")
    total = status.get("total_steps")
    line = (f"session {session.name}: {state} at step {status.get('step', 0)}{f'/{total}' if total else ''}, "
            f"epoch {status.get('epoch', 0)}" + (f", on {status['shape']}" if status.get("shape") else ""))
    last = next((m for m in reversed(metrics) if "train_loss" in m), None)
    if last is not None:
        line += f", train loss {last['train_loss']:.4f}"
    if best is not None:
        line += f", best validation {nats_text(best)}"
    print(line)
    print(f"history: {len(metrics)} metric records, {len(update.samples)} samples, {len(update.events)} events")
    if update.samples:
        sample = update.samples[-1]
        print(f"--- last sample, at step {sample.get('step')} ---\n{str(sample.get('text', '')).replace(chr(13), '')}\n---")
    if state == "failed" and status.get("error"):
        print(f"error: {status['error']}")


def cmd_attach(args: argparse.Namespace) -> int:
    from workbench.cli.app import has_terminal, open_app

    session = Session.open(sessions_dir(args), args.name)
    if not args.headless and has_terminal():
        return open_app(sessions_dir(args), session.name)  # the training screen follows the trainer live
    follower = SessionFollower(session)
    first = follower.poll()
    status = first.status or session.live_status()
    view = _AttachView(status)
    view.note_history(first.metrics)
    _print_history(session, first, status, view.narrator.best)
    holder = session.lock_holder()
    if holder is None:
        print(f"no trainer is running for session {session.name} (state: {status.get('state')}); "
              f"`workbench resume {session.name} --detach` continues it")
        return 0
    print(f"attached to {session.name} (process {holder.get('pid')}); press Ctrl-C to detach (training continues)",
          flush=True)
    try:
        status = _follow(session, follower, view, status)
    except KeyboardInterrupt:
        print(f"\ndetached; training continues (`workbench attach {session.name}` to watch again)", flush=True)
        return 0
    state = status.get("state")
    if view.ended is None:
        detail = f": {status.get('error')}" if state == "failed" and status.get("error") else ""
        print(f"the trainer ended: {state} at step {status.get('step')}{detail}", flush=True)
    return 1 if state == "failed" else 0


def _follow(session: Session, follower: SessionFollower, view: _AttachView, status: dict[str, Any]) -> dict[str, Any]:
    """Print what the trainer writes until it has ended; its last status."""
    stall = StallNotice()
    while True:
        time.sleep(POLL_SECONDS)
        update = follower.poll()
        view.show(update)
        if update.status is not None:
            status = update.status
        stall.check(status)
        if status.get("state") not in ACTIVE_STATES and session.lock_holder() is None:
            view.show(follower.poll())  # what was written between the last poll and the exit
            return session.live_status()
