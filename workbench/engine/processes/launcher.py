"""Starting a trainer in the background: its own process, in its own process group and
terminal session, so closing the terminal (or the SSH connection) that started it does not
end it. Used by `workbench train/resume --detach` and by the terminal UI.

The trainer is engine/processes/runner.py's `main` (a session without a checkpoint starts from step 0),
in an interpreter that imports nothing from the caller's folder; its output goes to
SESSION/trainer.log, and the session folder is the only link back: status.json says how it
goes, control.sock takes commands.

Pure Python: launching never imports torch in this process.
"""
from __future__ import annotations

import os
import subprocess
import threading
import sys
import time
from pathlib import Path

from workbench.engine.errors import WorkbenchError
from workbench.engine.files import UnsafeFile, open_append, open_read
from workbench.engine.sessions.session import ACTIVE_STATES, Session

# `python -c` puts the current folder first on sys.path (as `-m` does): a numpy.py or a
# workbench/ folder there would be imported instead of the real one, and run with the user's
# rights. The child drops that entry before it imports anything of its own. (-I would do it
# too, but it also drops PYTHONPATH and the user's site-packages, where workbench or torch
# may be installed on purpose.)
_BOOTSTRAP = (
    "import sys\n"
    "if not getattr(sys.flags, 'safe_path', False):\n"  # -P / PYTHONSAFEPATH (3.11+): no such entry
    "    del sys.path[0]\n"
    "from {module} import {function} as main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def python_command(target: str, args: list[str]) -> list[str]:
    """The command line that runs `module:function(args)` in a fresh interpreter (this one's
    executable, so the same virtual environment) without importing from the current folder."""
    module, _, function = target.partition(":")
    return [sys.executable, "-c", _BOOTSTRAP.format(module=module, function=function), *args]


def child_environment() -> dict[str, str]:
    """This process's environment for a child interpreter, less what would make it import from
    the caller's folder: empty or relative PYTHONPATH entries (they mean the current folder).
    Absolute entries, which someone set on purpose, stay."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if "PYTHONPATH" in env:
        kept = [entry for entry in env["PYTHONPATH"].split(os.pathsep) if entry and os.path.isabs(entry)]
        if kept:
            env["PYTHONPATH"] = os.pathsep.join(kept)
        else:
            del env["PYTHONPATH"]
    return env


def last_log_line(session: Session, since: int = 0) -> str:
    """What a trainer said last in trainer.log after byte `since` (for one-line errors): its
    last error line when there is one (another trainer may be writing progress lines into the
    same file meanwhile), else the last non-empty line; without our error prefix."""
    try:
        with open_read(session.log_path) as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(since, f.tell() - 65536))
            lines = [line.strip() for line in f.read().decode("utf-8", errors="replace").splitlines()]
    except (OSError, UnsafeFile):
        return ""
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
    return (errors or lines or [""])[-1].removeprefix(ERROR_PREFIX)


ERROR_PREFIX = "workbench: error: "


def trainer_command(session: Session, sessions_dir: Path) -> list[str]:
    """One trainer process (engine/processes/runner.py), or the supervisor of a group (engine/processes/group.py)
    when the session trains with several processes."""
    entry = "workbench.engine.processes.group:main" if session.read_config().processes > 1 else "workbench.engine.processes.runner:main"
    return python_command(entry, [str(Path(sessions_dir).resolve()), session.name])


def start_trainer(session: Session, sessions_dir: Path, *, wait: float = 120.0) -> int:
    """Start a detached trainer for `session` (with the budget its config.json holds: see
    budget.set_budget) and return its pid once status.json says it is training (or after
    `wait` seconds, when it is still loading). Raises WorkbenchError (exit status 1) with the
    trainer's own last words when it exits before it gets there."""
    session.check_layout()  # trainer.log is appended to below: never through a link
    log = session.log_path
    command = trainer_command(session, sessions_dir)
    with open_append(log) as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting a detached trainer ---\n")
        out.flush()
        since = os.fstat(out.fileno()).st_size  # what this child writes comes after here
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=child_environment())
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status = session.read_status()
        ours = proc.pid in (status.get("pid"), status.get("supervisor_pid"))  # a group's rank 0 has its own pid
        if ours and status.get("state") in ACTIVE_STATES:
            return _reaped_later(proc)
        code = proc.poll()
        if code is not None:
            if code == 0:  # a budget small enough to be spent already
                return proc.pid
            holder = session.lock_holder()
            if holder and holder.get("pid") != proc.pid:  # another start won the race for the lock
                raise WorkbenchError(f"session {session.name!r} is already being trained by process "
                                     f"{holder.get('pid')}; `workbench attach {session.name}` watches it", exit_code=1)
            reason = last_log_line(session, since) or f"exit status {code}"
            raise WorkbenchError(f"the trainer for session {session.name!r} exited at once: {reason} "
                                 f"(full log: {log})", exit_code=1)
        time.sleep(0.05)
    return _reaped_later(proc)


def _reaped_later(proc: subprocess.Popen) -> int:
    """Wait for the child in a daemon thread, so a long-lived parent (the terminal UI) never
    collects zombies; the trainer runs in its own process session and outlives us anyway.
    (Started only after our own polling is done: Popen.poll() cannot see an exit while
    another thread waits.)"""
    threading.Thread(target=proc.wait, name=f"reap-trainer-{proc.pid}", daemon=True).start()
    return proc.pid
