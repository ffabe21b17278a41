"""`workbench serve` started for a test: in a process of its own, on a free port, stopped with
Ctrl-C (SIGINT) at the end, as a user would."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# The console script, not `python -m` (which would import from the folder it starts in: the
# tests plant a `workbench/` there to see that the browser tabs' apps never import it).
WORKBENCH = Path(sys.executable).with_name("workbench")


@dataclass(frozen=True)
class Served:
    """A running `workbench serve`: the URL it printed (with its token when it has one)."""

    url: str
    pid: int
    log_path: Path

    def log(self) -> str:
        """What it has printed so far (its log lines included)."""
        return self.log_path.read_text()

    def apps(self) -> list[int]:
        """The pids of the browser tabs' apps that run: serve's children (textual-serve's shell
        execs the app), zombies left out."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if fields[0] != "Z" and int(fields[1]) == self.pid:
                found.append(int(entry.name))
        return found


@contextlib.contextmanager
def served(sessions: Path, *options: str, cwd: Path, timeout: float = 40.0) -> Iterator[Served]:
    """`workbench serve --port 0 --sessions-dir SESSIONS OPTIONS...`, from the URL it prints
    until Ctrl-C; it must then exit with 0 and without a traceback in its output."""
    command = [str(WORKBENCH)] if WORKBENCH.exists() else [sys.executable, "-m", "workbench"]
    log_path = cwd / "serve.log"
    out = log_path.open("w+")
    proc = subprocess.Popen([*command, "serve", "--port", "0", "--sessions-dir", str(sessions), *options],
                            cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        deadline = time.monotonic() + timeout
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            out.seek(0)
            found = re.search(r"open (http://\S+)", out.read())
            url = found.group(1) if found else None
            time.sleep(0.1)
        out.seek(0)
        assert url, f"workbench serve printed no URL: {out.read()}"
        yield Served(url=url, pid=proc.pid, log_path=log_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("workbench serve did not stop within 60 s of Ctrl-C")
    out.seek(0)
    log = out.read()
    assert proc.returncode == 0, f"workbench serve exited with {proc.returncode}: {log}"
    assert "Traceback" not in log, log


@contextlib.contextmanager
def serving(sessions: Path, *options: str, cwd: Path, timeout: float = 40.0) -> Iterator[str]:
    """The URL `workbench serve` printed (with its token when it has one)."""
    with served(sessions, *options, cwd=cwd, timeout=timeout) as server:
        yield server.url
