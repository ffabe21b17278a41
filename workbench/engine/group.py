"""A session trained by a group of processes on this machine: torchrun's own launcher
(`torch.distributed.run`, the established engine for DDP), run in this process as the group's
supervisor.

    run_group(session, sessions_dir)     # `train/resume --nproc N --headless`, in the foreground
    python -c ... group:main DIR NAME    # what the launcher starts for --detach and the app

torchrun starts `--nproc-per-node` processes, each `engine/runner.py`'s main on the session
(in an interpreter that imports nothing from the current folder), restarts them all when one
fails (`--max-restarts`; they resume from the last checkpoint by themselves), forwards a
signal to each of them once, and reports how each one ended. When one died, the supervisor
says in the session which one and how, after every process has exited: a rank that is killed
cannot say it itself, and rank 0 only sees that it lost contact.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from workbench.engine.errors import WorkbenchError, reporting_errors
from workbench.engine.launcher import child_environment, python_command
from workbench.engine.lock import SessionBusy, SessionLock
from workbench.engine.session import Session, read_jsonl

MONITOR_SECONDS = 0.5  # how often torchrun's agent looks at its processes


def check_processes(device: str, processes: int) -> None:
    """One-line errors for a group this machine cannot run (before anything starts)."""
    if processes <= 1:
        return
    from workbench.engine.device import resolve_device

    kind = resolve_device(device)
    if kind.type == "mps":
        raise WorkbenchError("Apple's Metal backend cannot be shared by processes; use --nproc 1 with --device mps")
    if kind.type == "cuda":
        import torch

        visible = torch.cuda.device_count()
        if processes > visible:
            raise WorkbenchError(f"--nproc {processes} needs a GPU per process and {visible} CUDA device(s) are "
                                 f"visible here; give --nproc {visible} or less (or --device cpu)")


def torchrun_args(session: Session, sessions_dir: Path, processes: int, max_restarts: int) -> list[str]:
    worker = python_command("workbench.engine.runner:main", [str(Path(sessions_dir).resolve()), session.name])
    return ["--standalone", "--nproc-per-node", str(processes), "--max-restarts", str(max_restarts),
            "--monitor-interval", str(MONITOR_SECONDS), "--no-python", *worker]


def run_group(session: Session, sessions_dir: Path) -> int:
    """Train `session` with its config's number of processes; the group's exit status."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    config = session.read_config()
    check_processes(config.device, config.processes)
    # What the processes inherit: our pid (rank 0 records it, so the launcher knows its
    # group has started), the group's timeout, and no PYTHONPATH entry that means "here".
    os.environ.clear()
    os.environ.update({**child_environment(), "WORKBENCH_SUPERVISOR_PID": str(os.getpid()),
                       "WORKBENCH_DIST_TIMEOUT": f"{config.dist_timeout:g}",
                       # torchrun's own default (one thread a process), said here so that it
                       # does not print a banner about it; --threads still wins in the trainer
                       "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or "1"})
    started = time.time()
    try:
        run(parse_args(torchrun_args(session, sessions_dir, config.processes, config.max_restarts)))
    except ChildFailedError as exc:
        post_mortem(session, exc.failures, started)
        return 1
    except SignalException as exc:  # torchrun has passed the signal on and waited for them
        return 128 + int(exc.sigval)
    return 0


def describe_failure(rank: int, failure: Any) -> str:
    """'rank 1 (process 4242) was killed by SIGKILL' or '... exited with status 1: <its error>'."""
    pid = getattr(failure, "pid", "?")
    code = int(getattr(failure, "exitcode", 1))
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"rank {rank} (process {pid}) was killed by {name}"
    message = str(getattr(failure, "message", "") or "").strip().splitlines()
    # Without an error file torchrun's message is only advice on how to get one.
    useful = message and "<N/A>" not in message[-1] and "To enable traceback" not in message[-1]
    detail = f": {message[-1][:160]}" if useful else ""
    return f"rank {rank} (process {pid}) exited with status {code}{detail}"


def post_mortem(session: Session, failures: dict[int, Any], started: float) -> None:
    """Say in the session which process of the group failed and how, unless rank 0 has said
    why the run failed already (a guard, a bad corpus); done under the session's lock, which
    is free now that every process has exited (a trainer started meanwhile is left alone)."""
    status = session.read_status()  # as rank 0 left it (live_status would call a dead rank 0 failed)
    ours = (status.get("finished") or status.get("updated") or 0) >= started
    if status.get("state") == "failed" and status.get("error") and not status.get("lost_peer") and ours:
        return
    what = culprit(failures, status)
    if what is None:
        return
    step = max(status.get("step") or 0, *(r.get("step", 0) for r in read_jsonl(session.metrics_path)[-1:]))
    checkpoint = status.get("checkpoint_step")
    kept = (f"the last good checkpoint (step {checkpoint}) is kept" if checkpoint is not None
            else "no checkpoint had been written yet")
    lock = SessionLock(session.lock_path, session.name)
    try:
        lock.acquire("workbench group", wait_seconds=5.0)
    except SessionBusy:
        return
    try:
        session.write_status(state="failed", pid=None, error=f"{what} at step {step}; every process of the group "
                             f"has exited; {kept}", finished=time.time(), step=checkpoint or 0, lost_peer=False,
                             peer_died=False)
    finally:
        lock.release()


def culprit(failures: dict[int, Any], status: dict[str, Any]) -> str | None:
    """Which process brought the group down: the first to fail when a signal killed it, or the
    first a signal killed when rank 0 saw a connection close; else,
    when rank 0 lost contact, those that had not ended when it gave up on them (they hung, and
    torchrun ended them later); else the first that failed, unless rank 0 said why already."""
    ordered = sorted(failures.items(), key=lambda item: getattr(item[1], "timestamp", 0))
    if not ordered:
        return None
    killed = [item for item in ordered if int(getattr(item[1], "exitcode", 0)) < 0
              and -int(getattr(item[1], "exitcode", 0)) != signal.SIGTERM]
    # torchrun stamps a killed process with the second it noticed, rank 0 with the second of
    # its error, so rank 0 can sort first although the other's death is what it saw.
    if killed and (killed[0] is ordered[0] or status.get("peer_died")):
        return describe_failure(*killed[0])
    pids = status.get("rank_pids") or []
    later = [rank for rank, f in ordered[1:] if int(getattr(f, "exitcode", 0)) < 0]
    hung = sorted(set(later) | {rank for rank in range(len(pids)) if rank not in failures})
    if status.get("lost_peer") and hung:
        seconds = os.environ.get("WORKBENCH_DIST_TIMEOUT", "?")
        return "; ".join(f"rank {rank} (process {pids[rank] if rank < len(pids) else '?'}) stopped answering "
                         f"(the others waited {seconds} s for it, then torchrun ended it)" for rank in hung)
    if status.get("state") == "failed" and not status.get("lost_peer"):
        return None  # rank 0 said why already
    return describe_failure(*ordered[0])


def main(argv: Sequence[str] | None = None) -> int:
    """The detached supervisor's entry (engine/launcher.py): `SESSIONS_DIR NAME`."""
    parser = argparse.ArgumentParser(prog="workbench group", description="Train one session with a group (started by workbench).")
    parser.add_argument("sessions_dir", type=Path)
    parser.add_argument("name")
    args = parser.parse_args(argv)
    return reporting_errors(lambda: run_group(Session.open(args.sessions_dir, args.name), args.sessions_dir))


if __name__ == "__main__":
    sys.exit(main())
