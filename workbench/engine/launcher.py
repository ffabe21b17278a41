"""Starting a trainer in the background: its own process, in its own process group and
terminal session, so closing the terminal (or the SSH connection) that started it does not
end it. Used by `workbench train/resume --detach` and by the terminal UI.

The trainer is `workbench resume NAME --headless` (a session without a checkpoint starts from
step 0); its output goes to SESSION/trainer.log, and the session folder is the only link
back: status.json says how it goes, control.sock takes commands.

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
from workbench.engine.session import Session

LOG_NAME = "trainer.log"


def log_path(session: Session) -> Path:
    return session.root / LOG_NAME


def last_log_line(session: Session) -> str:
    """The last non-empty line of trainer.log, without our error prefix (for one-line errors)."""
    try:
        with open(log_path(session), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        line = line.strip()
        if line:
            return line.removeprefix("workbench: error: ")
    return ""


def trainer_command(session: Session, sessions_dir: Path, steps: int | None = None, epochs: float | None = None,
                    minutes: float | None = None) -> list[str]:
    command = [sys.executable, "-m", "workbench", "resume", session.name, "--headless",
               "--sessions-dir", str(Path(sessions_dir).resolve())]
    for flag, value in (("--steps", steps), ("--epochs", epochs), ("--minutes", minutes)):
        if value is not None:
            command += [flag, str(value)]
    return command


def start_trainer(session: Session, sessions_dir: Path, steps: int | None = None, epochs: float | None = None,
                  minutes: float | None = None, *, wait: float = 120.0) -> int:
    """Start a detached trainer for `session` and return its pid once status.json says it is
    training (or after `wait` seconds, when it is still loading). Raises WorkbenchError (exit
    status 1) with the trainer's own last words when it exits before it gets there."""
    log = log_path(session)
    command = trainer_command(session, sessions_dir, steps, epochs, minutes)
    with open(log, "ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting a detached trainer ---\n".encode())
        out.flush()
        os.chmod(log, 0o600)
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd=os.getcwd(),
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status = session.read_status()
        if status.get("pid") == proc.pid and status.get("state") in ("running", "paused"):
            return _reaped_later(proc)
        code = proc.poll()
        if code is not None:
            if code == 0:  # a budget small enough to be spent already
                return proc.pid
            reason = last_log_line(session) or f"exit status {code}"
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
