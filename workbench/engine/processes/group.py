"""A session trained by a group of processes on this machine: torchrun's own launcher
(`torch.distributed.run`, the established engine for DDP), run in this process as the group's
supervisor.

    run_group(session, sessions_dir)     # `train/resume --nproc N --headless`, in the foreground
    python -c ... group:main DIR NAME    # what the launcher starts for --detach and the app

torchrun starts `--nproc-per-node` processes, each `engine/processes/runner.py`'s main on the session
(in an interpreter that imports nothing from the current folder), restarts them all when one
fails (`--max-restarts`; they resume from the last checkpoint by themselves), forwards a
signal to each of them once, and reports how each one ended. When one died, the supervisor
says in the session which one and how, after every process has exited: a rank that is killed
cannot say it itself, and rank 0 only sees that it lost contact. When the ranks refused before
the first step (a corpus a rank cannot find, a changed text), rank 0 has written nothing, so
the supervisor marks the session failed with the line the ranks left for it (each rank's error
file, distributed.record_error) and says that line once, as its own one-line error.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from workbench.engine.errors import WorkbenchError, reporting_errors
from workbench.engine.processes.launcher import child_environment, python_command
from workbench.engine.sessions.lock import SessionLock
from workbench.engine.sessions.session import Session, read_jsonl

MONITOR_SECONDS = 0.5  # how often torchrun's agent looks at its processes


def check_processes(device: str, processes: int) -> None:
    """One-line errors for a group this machine cannot run (before anything starts)."""
    if processes <= 1:
        return
    from workbench.engine.machine.device import resolve_device

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
    worker = python_command("workbench.engine.processes.runner:main", [str(Path(sessions_dir).resolve()), session.name])
    return ["--standalone", "--nproc-per-node", str(processes), "--max-restarts", str(max_restarts),
            "--monitor-interval", str(MONITOR_SECONDS), "--no-python", *worker]


def run_group(session: Session, sessions_dir: Path) -> int:
    """Train `session` with its config's number of processes; the group's exit status. A group
    that failed raises WorkbenchError with the reason the session now holds, unless rank 0 has
    said why itself (it printed that line already)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    config = session.read_config()
    check_processes(config.device, config.processes)
    # What the processes inherit (torchrun hands them os.environ itself): ours, so that a rank
    # finds a named corpus where we found it (WORKBENCH_CORPORA) and has our PATH and HOME; less
    # any PYTHONPATH entry that means "here"; plus our pid (rank 0 records it, so the launcher
    # knows its group has started) and the group's timeout. Read before os.environ is cleared:
    # child_environment() copies it.
    inherited = {**child_environment(), "WORKBENCH_SUPERVISOR_PID": str(os.getpid()),
                 "WORKBENCH_DIST_TIMEOUT": f"{config.dist_timeout:g}",
                 # torchrun's own default (one thread a process), said here so that it does not
                 # print a banner about it; --threads still wins in the trainer
                 "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or "1"}
    os.environ.clear()
    os.environ.update(inherited)
    quiet_failure_line()
    started = time.time()
    try:
        run(parse_args(torchrun_args(session, sessions_dir, config.processes, config.max_restarts)))
    except ChildFailedError as exc:
        verdict = post_mortem(session, exc.failures, started)
        if verdict is not None:
            raise WorkbenchError(*verdict) from None
        return 1
    except SignalException as exc:  # torchrun has passed the signal on and waited for them
        return 128 + int(exc.sigval)
    return 0


class _FailureLine(logging.Filter):
    """torchrun's own "failed (exitcode: 2) local_rank: 0 (pid: 4290) of binary: ..." log line:
    the post-mortem says the same in its own words, with the reason, as the one error line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("failed (exitcode")


def quiet_failure_line() -> None:
    logger = logging.getLogger("torch.distributed.elastic.multiprocessing.api")
    if not any(isinstance(f, _FailureLine) for f in logger.filters):
        logger.addFilter(_FailureLine())


# -- what torchrun reports of the processes that failed ----------------------------------------
# A dict by global rank of ProcessFailure (pid, exitcode, message, timestamp), whose message is
# what a rank left in its error file (distributed.record_error), torchrun's own structured
# error ({"message": ..., "extraInfo": ...}) or advice when there is none. The post-mortem
# reads every field defensively: it runs after the group is gone, and a crash here would leave
# the session saying "created" or "running" with nobody left to correct it.

def _field(failure: Any, name: str) -> Any:
    return failure.get(name) if isinstance(failure, Mapping) else getattr(failure, name, None)


def _integer(value: Any) -> int | None:
    """An int from what may be one (an int, a whole float, a string of digits), else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return None


def _seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return number if number == number else 0.0  # NaN sorts nowhere


def exit_code(failure: Any) -> int | None:
    """How a process ended: its exit status, minus the signal that killed it; None when unknown."""
    return _integer(_field(failure, "exitcode"))


def last_words(failure: Any) -> str:
    """The one line a process said of its failure, '' when it said none (torchrun's message is
    then only advice on how to get one, or its own note of a signal)."""
    message = _field(failure, "message")
    if isinstance(message, Mapping):  # torchrun's structured error file
        message = message.get("message")
    lines = str(message if message is not None else "").strip().splitlines()
    last = lines[-1].strip() if lines else ""
    if "<N/A>" in last or "To enable traceback" in last or (last.startswith("Signal ") and "received by PID" in last):
        return ""
    return last


def ranked_failures(failures: Any) -> list[tuple[int, Any]]:
    """(rank, failure) in the order they failed (stable for the same second), from torchrun's
    dict by global rank; any other shape (a list, None) gives what it can."""
    if isinstance(failures, Mapping):
        items = list(failures.items())
    elif isinstance(failures, (list, tuple)):
        items = list(enumerate(failures))
    else:
        items = []
    ranked = [(rank if (rank := _integer(key)) is not None else index, failure)
              for index, (key, failure) in enumerate(items)]
    return sorted(ranked, key=lambda item: _seconds(_field(item[1], "timestamp")))


def describe_failure(rank: int, failure: Any) -> str:
    """'rank 1 (process 4242) was killed by SIGKILL' or '... exited with status 1: <its error>'."""
    pid = _integer(_field(failure, "pid"))
    who = f"rank {rank} (process {pid if pid is not None else '?'})"
    code = exit_code(failure)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{who} was killed by {name}"
    words = last_words(failure)
    detail = f": {words[:160]}" if words else ""
    return f"{who} exited with status {code}{detail}" if code is not None else f"{who} failed{detail}"


def refusal(failures: Any) -> tuple[str, int] | None:
    """A group refused before its first step (a corpus a rank cannot find, a changed text): the
    one line the ranks said, rank 0's when it said one of its own (it may name another rank:
    "rank 1: ..."), else the first other rank's, and the exit status it had (2: bad input)."""
    by_rank = sorted(ranked_failures(failures), key=lambda item: item[0])
    said = [(rank, words, exit_code(failure)) for rank, failure in by_rank
            if (words := last_words(failure)) and not words.startswith("lost contact")]
    if not said:
        return None
    rank, words, code = said[0]
    return (words if rank == 0 else f"rank {rank}: {words}"), (code if code is not None and 0 < code < 128 else 1)


def post_mortem(session: Session, failures: Any, started: float) -> tuple[str, int] | None:
    """Say in the session which process of the group failed and how, unless rank 0 has said
    why the run failed already (a guard, a bad corpus); done under the session's lock, which
    is free now that every process has exited (a trainer started meanwhile is left alone).
    Returns the line for the supervisor to say and its exit status; None when rank 0 said why."""
    status = session.read_status()  # as rank 0 left it (live_status would call a dead rank 0 failed)
    # Rank 0 stamps "started" when its run begins, after every check of its setup: without a
    # stamp since the group started, the ranks refused in setup and their own line is the
    # reason, and what the status says of a group (its pids, a lost peer) is another run's.
    began = _seconds(status.get("started")) >= started
    if status.get("state") == "failed" and status.get("error") and not status.get("lost_peer") and began:
        return None
    checkpoint = _integer(status.get("checkpoint_step"))
    verdict = None if began else refusal(failures)
    if verdict is None:
        what = culprit(failures, status if began else {})
        if what is None:
            return None
        last = read_jsonl(session.metrics_path)[-1:]  # none before the first step: max() gets a list
        steps = [_integer(status.get("step")) or 0, *(_integer(record.get("step")) or 0 for record in last)]
        kept = (f"the last good checkpoint (step {checkpoint}) is kept" if checkpoint is not None
                else "no checkpoint had been written yet")
        verdict = f"{what} at step {max(steps)}; every process of the group has exited; {kept}", 1
    _mark_failed(session, verdict[0], checkpoint)
    return verdict


def _mark_failed(session: Session, error: str, checkpoint: int | None) -> None:
    lock = SessionLock(session.lock_path, session.name)
    try:
        lock.acquire("workbench group", wait_seconds=5.0)
    except WorkbenchError:  # SessionBusy: another trainer has it now; a link: never written through
        return
    try:
        session.write_status(state="failed", pid=None, error=error, finished=time.time(), step=checkpoint or 0,
                             lost_peer=False, peer_died=False)
    except (OSError, WorkbenchError):  # a full disk: the supervisor still says why
        pass
    finally:
        lock.release()


def culprit(failures: Any, status: dict[str, Any]) -> str | None:
    """Which process brought the group down: the first to fail when a signal killed it, or the
    first a signal killed when rank 0 saw a connection close; else,
    when rank 0 lost contact, those that had not ended when it gave up on them (they hung, and
    torchrun ended them later); else the first that failed, unless rank 0 said why already."""
    ordered = ranked_failures(failures)
    if not ordered:
        return None
    signalled = [(item, code) for item in ordered if (code := exit_code(item[1])) is not None and code < 0]
    killed = [item for item, code in signalled if -code != signal.SIGTERM]
    # torchrun stamps a killed process with the second it noticed, rank 0 with the second of
    # its error, so rank 0 can sort first although the other's death is what it saw.
    if killed and (killed[0] is ordered[0] or status.get("peer_died")):
        return describe_failure(*killed[0])
    pids = status.get("rank_pids") if isinstance(status.get("rank_pids"), list) else []
    failed = {rank for rank, _ in ordered}
    later = [item[0] for item, _ in signalled if item is not ordered[0]]
    hung = sorted(set(later) | {rank for rank in range(len(pids)) if rank not in failed})
    if status.get("lost_peer") and hung:
        seconds = os.environ.get("WORKBENCH_DIST_TIMEOUT", "?")
        return "; ".join(f"rank {rank} (process {pids[rank] if rank < len(pids) else '?'}) stopped answering "
                         f"(the others waited {seconds} s for it, then torchrun ended it)" for rank in hung)
    if status.get("state") == "failed" and not status.get("lost_peer"):
        return None  # rank 0 said why already
    return describe_failure(*ordered[0])


def main(argv: Sequence[str] | None = None) -> int:
    """The detached supervisor's entry (engine/processes/launcher.py): `SESSIONS_DIR NAME`."""
    parser = argparse.ArgumentParser(prog="workbench group", description="Train one session with a group (started by workbench).")
    parser.add_argument("sessions_dir", type=Path)
    parser.add_argument("name")
    args = parser.parse_args(argv)
    return reporting_errors(lambda: run_group(Session.open(args.sessions_dir, args.name), args.sessions_dir))


if __name__ == "__main__":
    sys.exit(main())
