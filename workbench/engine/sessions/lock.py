"""One trainer per session: an exclusive `flock` on the session's `lock` file.

The kernel drops the lock when its process dies (even on kill -9), so a stale lock from a
dead process is simply taken over; the file's contents only name the holder for messages.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from workbench.engine.errors import WorkbenchError
from workbench.engine.files import UnsafeFile, open_update, read_bytes


class SessionBusy(WorkbenchError):
    """Another live process holds the session."""


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "another process"
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.get("started", 0)))
    return f"process {info.get('pid')} on {info.get('host', '?')} ({info.get('command', 'workbench')}, since {since})"


def read_lock_info(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(read_bytes(path) or b"null")
    except (OSError, ValueError, UnsafeFile):
        return None
    return info if isinstance(info, dict) else None


def lock_is_held(path: Path) -> bool:
    """True when a live process holds the lock. Probes with a shared lock, which never
    blocks a holder and is dropped at once."""
    try:
        # Never through a link, and never blocking on a FIFO planted in its place.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock we may have taken
    return False


class SessionLock:
    def __init__(self, path: Path, session_name: str) -> None:
        self.path = Path(path)
        self.session_name = session_name
        self._fd: int | None = None

    def acquire(self, command: str = "workbench train", wait_seconds: float = 2.0) -> None:
        fd = open_update(self.path)  # truncated below: never through a link to another file
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # A probe's brief shared lock can collide with us; only a lock that stays
                # held for the whole wait belongs to another trainer.
                if time.monotonic() >= deadline:
                    os.close(fd)
                    holder = _describe(read_lock_info(self.path))
                    raise SessionBusy(
                        f"session {self.session_name!r} is already being trained by {holder}; "
                        "stop that process first (or use another --session name)"
                    ) from None
                time.sleep(0.05)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "command": command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                os.close(self._fd)  # closing releases the flock
                self._fd = None

    def __enter__(self) -> "SessionLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
