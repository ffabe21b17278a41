"""Following a session from its folder: what a viewer (the terminal UI, `workbench attach`)
needs to draw a run that another process is training.

    follower = SessionFollower(session)
    update = follower.poll()          # the whole history first, then only what is new
    ... every 100-250 ms: follower.poll()

The trainer appends whole lines to metrics.jsonl, samples.jsonl and events.jsonl and
replaces status.json atomically. A poll costs a few stat() calls when nothing changed and
reads only the bytes appended since the last one; a line still being written is kept until
its newline arrives. A resume rewrites the logs without the records past its checkpoint
(a new file, or a shorter one): the next poll then re-reads everything and says `reset`.

Pure Python: following never imports torch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine.files import UnsafeFile, open_read
from workbench.engine.sessions.lock import lock_is_held
from workbench.engine.machine.processes import is_stopped
from workbench.engine.sessions.session import ACTIVE_STATES, Session, parse_lines


@dataclass
class SessionUpdate:
    metrics: list[dict[str, Any]] = field(default_factory=list)
    """New metrics.jsonl records since the last poll (the whole history on the first poll)."""
    samples: list[dict[str, Any]] = field(default_factory=list)
    """New samples.jsonl records."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """New events.jsonl records (dicts with "kind", as `Event.to_dict` writes them)."""
    status: dict[str, Any] | None = None
    """`session.live_status()` when it changed since the last poll, else None."""
    reset: bool = False
    """A log shrank or was replaced (a resume dropped records past its checkpoint): discard the
    history and take these lists as the full history."""

    def __bool__(self) -> bool:
        return bool(self.metrics or self.samples or self.events or self.status is not None or self.reset)


class _Tail:
    """One append-only file: where we are in it, and which file it was."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity: tuple[int, int] | None = None
        self.offset = 0       # bytes read, including `partial`
        self.partial = b""    # the start of a line whose newline has not arrived yet

    def clear(self) -> None:
        self.identity, self.offset, self.partial = None, 0, b""

    def changed(self) -> bool | None:
        """None: nothing new. False: bytes were appended. True: replaced, shrunk or removed."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True if self.offset else None
        if self.identity is not None and (st.st_dev, st.st_ino) != self.identity:
            return True
        if st.st_size < self.offset:
            return True
        if self.identity is None and st.st_size == 0:
            return None
        return None if (self.identity is not None and st.st_size == self.offset) else False

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """New complete records, and whether the file turned out to be another one."""
        try:
            f = open_read(self.path)
        except FileNotFoundError:
            return [], bool(self.offset)
        except UnsafeFile:  # a link or a FIFO planted in the session: never read through it
            return [], False
        with f:
            st = os.fstat(f.fileno())
            identity = (st.st_dev, st.st_ino)
            if (self.identity is not None and identity != self.identity) or st.st_size < self.offset:
                return [], True
            self.identity = identity
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        if self.partial:
            data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        return parse_lines(data if cut == len(data) else data[:cut]), False


class SessionFollower:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._tails = {"metrics": _Tail(session.metrics_path), "samples": _Tail(session.samples_path),
                       "events": _Tail(session.events_path)}
        self._status_key: tuple[Any, ...] | None = None
        self._status: dict[str, Any] | None = None
        self._first = True

    def poll(self) -> SessionUpdate:
        update = SessionUpdate(reset=False)
        states = {name: tail.changed() for name, tail in self._tails.items()}
        reset = any(state is True for state in states.values())
        for _ in range(3):  # a resume rewrites the three logs one after another
            if reset:
                for tail in self._tails.values():
                    tail.clear()
                update = SessionUpdate(reset=not self._first)
                states = {name: False for name in self._tails}
                reset = False
            for name, tail in self._tails.items():
                if states[name] is None:
                    continue
                records, replaced = tail.read()
                if replaced:
                    reset = True
                    break
                getattr(update, name).extend(records)
            if not reset:
                break
        update.status = self._poll_status(force=update.reset or self._first)
        self._first = False
        return update

    def _poll_status(self, force: bool) -> dict[str, Any] | None:
        try:
            st = os.stat(self.session.status_path)
            signature: tuple[int, ...] = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            signature = ()
        # A trainer that dies says nothing: only its lock tells. Probe the lock only while
        # the status claims a live trainer.
        active = self._status is not None and self._status.get("state") in ACTIVE_STATES
        # ... and a trainer stopped by a signal writes nothing either: only /proc tells.
        pid = self._status.get("pid") if active and self._status is not None else None
        key = (signature, lock_is_held(self.session.lock_path) if active else None, is_stopped(pid))
        if not force and key == self._status_key:
            return None
        status = self.session.live_status()
        # An active live_status has just seen the lock held.
        self._status_key = (signature, True if status.get("state") in ACTIVE_STATES else None,
                            bool(status.get("suspended")))
        if not force and status == self._status:
            return None
        self._status = status
        return status
