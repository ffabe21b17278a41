"""Remote control of a running trainer: a Unix socket, `control.sock`, in the session folder.
This module is the protocol and the client; control_server.py is the trainer's side.

    with ControlServer(session, trainer):          # only while holding the session lock
        ...
    send_command(session, {"kind": "pause"})       # from any other process of the same user

The protocol is one JSON object per line each way. A request is a command dict
(`commands.command_from_dict`, e.g. {"kind": "pause"}) or {"kind": "ping"}; the reply is
{"ok": true, ...} or {"ok": false, "error": "..."}. No network port: the socket is mode 0600
in a 0700 folder, so only the owning user reaches it (over SSH as well). When nobody is
connected it costs the trainer one thread blocked in select(); a client has a few seconds to
send each request, and idle connections give way to new ones (control_server.py), so nobody
can lock out the owner's commands by holding connections open.

Pure Python: a client never imports torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from workbench.engine.control import commands as cmd
from workbench.engine.errors import WorkbenchError
from workbench.engine.machine.processes import is_stopped
from workbench.engine.sessions.session import Session
from workbench.engine.typecheck import accepts, describe, field_types

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024
"""Bytes in one request line; a longer one is refused (and its connection closed)."""
# sun_path holds 108 bytes on Linux and 104 on macOS, NUL included.
_SUN_PATH_MAX = 103
_PROC_FD = Path("/proc/self/fd")


def _too_long(path: Path) -> bool:
    return len(os.fsencode(str(path))) > _SUN_PATH_MAX


def socket_path(session: Session) -> Path:
    """Where the session's trainer listens. Normally `SESSION/control.sock`; a session folder
    too deep for an AF_UNIX address still uses it on Linux (reached through
    /proc/self/fd/N/control.sock, see `_address`); elsewhere the socket moves to a per-user
    runtime folder, named by a hash of the session folder."""
    path = session.root / SOCKET_NAME
    if not _too_long(path) or _PROC_FD.is_dir():
        return path
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"workbench-{os.getuid()}"
    digest = hashlib.sha256(os.fsencode(os.path.realpath(session.root))).hexdigest()[:24]
    return base / f"{digest}.sock"


class Address:
    """A path short enough for bind/connect: the path itself, or the same file reached through
    an open descriptor of its folder (Linux), valid until `close()`."""

    def __init__(self, path: Path) -> None:
        self._fd: int | None = None
        self.text = str(path)
        if _too_long(path):
            self._fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            self.text = f"/proc/self/fd/{self._fd}/{path.name}"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> str:
        return self.text

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- requests --------------------------------------------------------------------------------
def parse_command(data: Any) -> cmd.Command:
    """A command from a request dict, with every field type-checked; ValueError if unusable."""
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise ValueError('a request is a JSON object with a "kind", e.g. {"kind": "pause"}')
    kind = data["kind"]
    cls = cmd.COMMAND_TYPES.get(kind)
    if cls is None:
        known = ", ".join(["ping", *cmd.COMMAND_TYPES])
        raise ValueError(f"unknown command {kind!r} (known: {known})")
    types = field_types(cls)
    names = {f.name for f in fields(cls)}
    extra = sorted(set(data) - names - {"kind"})
    if extra:
        raise ValueError(f"command {kind!r} takes no {', '.join(map(repr, extra))}")
    missing = [f.name for f in fields(cls) if f.name not in data
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise ValueError(f"command {kind!r} needs {', '.join(map(repr, missing))}")
    for name, allowed in types.items():
        if name in data and not accepts(allowed, data[name]):
            raise ValueError(f"{name!r} must be {describe(allowed, plain=False)}, got {json.dumps(data[name])}")
        if isinstance(data.get(name), str):
            _check_text(name, data[name])
    return cmd.command_from_dict(data)


MAX_TEXT = 100_000
"""Characters of a string in a request (a prime); a stop's reason gets far fewer."""


def _check_text(name: str, text: str) -> None:
    """Strings from a client end up in status.json, events.jsonl and on terminals: valid Unicode
    (JSON can carry a lone surrogate; no file or screen can), and of a sane length."""
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise ValueError(f"{name!r} is not valid Unicode (it holds a lone surrogate)")
    limit = 200 if name == "reason" else MAX_TEXT
    if len(text) > limit:
        raise ValueError(f"{name!r} is {len(text):,} characters long; at most {limit:,}")


# -- the client --------------------------------------------------------------------------------
def _no_trainer(session: Session) -> WorkbenchError:
    status = session.live_status()
    state = status.get("state", "created")
    return WorkbenchError(f"no trainer is running for session {session.name!r} (state: {state}); "
                          f"start it with `workbench resume {session.name} --detach`")


def _connect(session: Session, timeout: float) -> socket.socket:
    """A connected socket, retrying briefly while the lock is held but the socket is not yet
    there (a trainer binds it right after taking the lock)."""
    path = socket_path(session)
    recorded = session.read_status().get("control_socket")
    candidates = [path] + ([Path(recorded)] if recorded and Path(recorded) != path else [])
    deadline = time.monotonic() + min(timeout, 3.0)
    last: OSError | None = None
    while True:
        for candidate in candidates:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                with Address(candidate) as address:
                    sock.connect(address)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        holder = session.lock_holder()
        if holder is None:
            raise _no_trainer(session)
        if time.monotonic() >= deadline:
            raise WorkbenchError(
                f"the trainer of session {session.name!r} (process {holder.get('pid')}) does not answer on "
                f"{path} ({last}); it may predate remote control: stop it with `kill {holder.get('pid')}`",
                exit_code=1)
        time.sleep(0.05)


def send_command(session: Session, command: cmd.Command | dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to the session's trainer and return its reply dict (`ok` false when
    the trainer refused it). Raises WorkbenchError when no trainer is listening."""
    data = command.to_dict() if isinstance(command, cmd.Command) else dict(command)
    sock = _connect(session, timeout)
    detail, sent = "", False
    with sock:
        try:
            sock.sendall((json.dumps(data) + "\n").encode())
            sent = True
        except OSError as exc:
            # The trainer may have closed the connection with its reason already written
            # (read below): that reason is the one to report, not our broken pipe.
            detail = f" ({exc.strerror or exc})"
        buffer, timed_out = b"", False
        try:
            while b"\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
        except socket.timeout:
            timed_out = True
        except OSError as exc:
            detail = detail or f" ({exc.strerror or exc})"
    line = buffer.split(b"\n", 1)[0]
    if not line:
        holder = session.lock_holder()
        if holder is None:
            raise _no_trainer(session)
        if not timed_out:
            raise WorkbenchError(f"the trainer of session {session.name!r} (process {holder.get('pid')}) closed "
                                 f"the connection without an answer{detail}", exit_code=1)
        raise _no_answer(session, holder.get("pid"), data.get("kind"), sent)
    try:
        reply = json.loads(line)
    except ValueError:
        raise WorkbenchError(f"the trainer of session {session.name!r} answered garbage: {line[:80]!r}",
                             exit_code=1) from None
    return reply if isinstance(reply, dict) else {"ok": False, "error": f"unexpected reply {reply!r}"}


def _no_answer(session: Session, pid: Any, kind: Any, sent: bool) -> WorkbenchError:
    """The trainer holds the lock but did not reply in time: stopped (SIGSTOP, Ctrl-Z) or busy.
    A command it was sent stays in its socket and is carried out once it reads it."""
    queued = sent and kind not in (None, "ping")
    then = f"; the {kind} waits in its queue and is carried out when it goes on" if queued else ""
    if is_stopped(pid):
        return WorkbenchError(f"the trainer of session {session.name!r} (process {pid}) is stopped and does not "
                              f"respond: `kill -CONT {pid}` lets it go on{then}", exit_code=1)
    return WorkbenchError(f"the trainer of session {session.name!r} (process {pid}) is not responding (busy, or "
                          f"the machine is){then}", exit_code=1)


def ping(session: Session, timeout: float = 5.0) -> dict[str, Any]:
    """{"ok": true, "pid", "state", "step"} from the running trainer; WorkbenchError if none."""
    return send_command(session, {"kind": "ping"}, timeout)
