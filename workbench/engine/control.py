"""Remote control of a running trainer: a Unix socket, `control.sock`, in the session folder.

    with ControlServer(session, trainer):          # only while holding the session lock
        ...
    send_command(session, {"kind": "pause"})       # from any other process of the same user

The protocol is one JSON object per line each way. A request is a command dict
(`commands.command_from_dict`, e.g. {"kind": "pause"}) or {"kind": "ping"}; the reply is
{"ok": true, ...} or {"ok": false, "error": "..."}. No network port: the socket is mode 0600
in a 0700 folder, so only the owning user reaches it (over SSH as well). When nobody is
connected it costs the trainer one thread blocked in select(). A client has REQUEST_SECONDS
to send each request, and idle connections give way to new ones, so nobody can lock out the
owner's commands by holding connections open.

Pure Python: a client never imports torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import socketserver
import struct
import sys
import tempfile
import threading
import time
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from workbench.engine import commands as cmd
from workbench.engine.errors import WorkbenchError
from workbench.engine.session import Session
from workbench.engine.typecheck import accepts, describe, field_types

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024
"""Bytes in one request line; a longer one is refused (and its connection closed)."""
MAX_CONNECTIONS = 32
"""Connections open at once; each costs a thread while connected. A new one beyond this closes
the connection that has been idle longest."""
REQUEST_SECONDS = 10.0
"""A client's time to send each complete request line (the CLI and the app send one at once)."""
REPLY_SECONDS = 5.0
"""A client's time to take a reply before its connection is dropped."""
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


class _Address:
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
    return cmd.command_from_dict(data)


# -- the server (in the trainer's process) -----------------------------------------------
class ControlServer:
    """Serves control requests for `trainer` until closed. Use it only while holding the
    session lock (the trainer's `run(while_locked=...)`): the lock holder owns the socket
    path, so a socket file found at start is a dead trainer's and is replaced.

    A client gets REQUEST_SECONDS to send each request line. When MAX_CONNECTIONS are open,
    a new client is served and the one that has waited longest for its next request is closed,
    so connections held open (by a stuck or hostile process) can never lock out a command."""

    def __init__(self, session: Session, trainer: Any) -> None:
        self.session = session
        self.trainer = trainer
        self.path = socket_path(session)
        self._server: _SocketServer | None = None
        self._identity: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "ControlServer":
        path = self.path
        if path.parent != self.session.root:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)
        try:
            path.unlink()  # a link is removed itself, never its target
        except FileNotFoundError:
            pass
        with _Address(path) as address:
            server = _SocketServer(address, self)
        try:
            os.chmod(path, 0o600)
            st = os.lstat(path)
        except OSError:
            server.server_close()
            raise
        self._identity = (st.st_dev, st.st_ino)
        self._server = server
        if path.parent != self.session.root:
            # Not where a client looks first: say where it is. (The trainer thread calls
            # start() before its own first status write, so this cannot race with it.)
            self.session.write_status(control_socket=str(path))
        # One thread blocked in select() on the listening socket; a thread per connection.
        self._thread = threading.Thread(target=self._serve, args=(server,), name="workbench-control", daemon=True)
        self._thread.start()
        return self

    def _serve(self, server: "_SocketServer") -> None:
        while not server.closing.is_set():
            server.handle_request()

    def close(self) -> None:
        """Stop serving and remove the socket file (only if it is still ours)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.closing.set()
        try:
            server.socket.shutdown(socket.SHUT_RDWR)  # wakes select() on Linux
        except OSError:
            pass
        server.close_connections()
        if self._thread is not None:
            self._thread.join(2.0)
        server.server_close()
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._identity:
                self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> "ControlServer":
        try:
            self.start()
        except OSError as exc:
            # Training matters more than remote control: go on, reachable by signals only.
            print(f"workbench: warning: no control socket for session {self.session.name!r} ({exc}); "
                  "stop this trainer with Ctrl-C or `kill` instead", file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handle(self, line: bytes | str) -> dict[str, Any]:
        """The reply to one request line. Never raises."""
        try:
            try:
                data = json.loads(line)
            except ValueError as exc:
                return {"ok": False, "error": f"not JSON: {exc}"}
            if isinstance(data, dict) and data.get("kind") == "ping":
                return {"ok": True, "pid": os.getpid(), "session": self.session.name,
                        "state": self.trainer.state, "step": self.trainer.step}
            try:
                command = parse_command(data)
            except ValueError as exc:
                return {"ok": False, "error": str(exc)}
            self.trainer.send(command)
            return {"ok": True, "state": self.trainer.state, "step": self.trainer.step}
        except Exception as exc:  # pragma: no cover - a bug here must not end the run
            return {"ok": False, "error": f"internal error: {exc!r}"}


class _SocketServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True  # a client thread never keeps the trainer's process alive
    block_on_close = False
    request_queue_size = 64  # connections not yet accepted; a full backlog makes clients retry

    def __init__(self, address: str, control: ControlServer) -> None:
        self.control = control
        self.closing = threading.Event()
        self.waiting: dict[socket.socket, float] = {}  # open connections -> since when idle
        self.lock = threading.Lock()
        super().__init__(address, _ClientHandler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if not _same_user(request):
            return False
        with self.lock:
            if len(self.waiting) >= MAX_CONNECTIONS:
                self._evict_longest_idle()
            self.waiting[request] = time.monotonic()
        return True

    def _evict_longest_idle(self) -> None:
        oldest = min(self.waiting, key=self.waiting.__getitem__)
        del self.waiting[oldest]
        _goodbye(oldest, f"closed: idle while {MAX_CONNECTIONS} control connections were open")

    def set_idle(self, conn: socket.socket, idle: bool) -> bool:
        """Mark a connection as waiting for a request (evictable) or busy; False once it was evicted."""
        with self.lock:
            if conn not in self.waiting and idle is False:
                return False
            if idle:
                self.waiting[conn] = time.monotonic()
            else:
                self.waiting.pop(conn, None)
            return True

    def forget(self, conn: socket.socket) -> None:
        with self.lock:
            self.waiting.pop(conn, None)

    def close_connections(self) -> None:
        with self.lock:
            connections, self.waiting = list(self.waiting), {}
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that misbehaves or vanishes only loses its connection


class _ClientHandler(socketserver.BaseRequestHandler):
    """One connection: request lines in, one reply line out for each."""

    server: _SocketServer

    def handle(self) -> None:
        conn, server = self.request, self.server
        buffer = b""
        deadline = time.monotonic() + REQUEST_SECONDS
        try:
            while not server.closing.is_set():
                newline = buffer.find(b"\n")
                if newline >= 0:
                    line, buffer = buffer[:newline], buffer[newline + 1:]
                    if not line.strip():
                        continue
                    if not server.set_idle(conn, False):
                        return  # evicted meanwhile
                    _reply(conn, server.control.handle(line))
                    server.set_idle(conn, True)
                    deadline = time.monotonic() + REQUEST_SECONDS
                    continue
                if len(buffer) > MAX_REQUEST:
                    _reply(conn, {"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"})
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _reply(conn, {"ok": False, "error": f"no complete request within {REQUEST_SECONDS:g} s; closing"})
                    return
                conn.settimeout(remaining)
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue  # the deadline check above answers and closes
                if not chunk:
                    return
                buffer += chunk
        except OSError:
            pass
        finally:
            server.forget(conn)

    def finish(self) -> None:
        self.server.forget(self.request)


def _reply(conn: socket.socket, reply: dict[str, Any]) -> None:
    conn.settimeout(REPLY_SECONDS)  # a client that never reads cannot hold a thread forever
    conn.sendall((json.dumps(reply) + "\n").encode())


def _goodbye(conn: socket.socket, reason: str) -> None:
    """Tell a connection why it is being closed (best effort), then close its stream."""
    try:
        conn.setblocking(False)
        conn.send((json.dumps({"ok": False, "error": reason}) + "\n").encode())
    except OSError:
        pass
    try:
        conn.shutdown(socket.SHUT_RDWR)  # its handler's recv returns at once and it exits
    except OSError:
        pass


def _same_user(conn: socket.socket) -> bool:
    """The peer runs as our user (or root). The socket's mode already ensures it; this is the
    second lock on the door, where the platform can tell (Linux's SO_PEERCRED)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    try:
        _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    except OSError:
        return True
    return uid in _served_uids()


def _served_uids() -> set[int]:
    return {os.getuid(), 0}


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
                with _Address(candidate) as address:
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
    detail = ""
    with sock:
        try:
            sock.sendall((json.dumps(data) + "\n").encode())
        except OSError as exc:
            # The trainer may have closed the connection with its reason already written
            # (read below): that reason is the one to report, not our broken pipe.
            detail = f" ({exc.strerror or exc})"
        buffer = b""
        try:
            while b"\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
        except OSError as exc:
            detail = detail or f" ({'timed out' if isinstance(exc, socket.timeout) else exc.strerror or exc})"
    line = buffer.split(b"\n", 1)[0]
    if not line:
        if session.lock_holder() is None:
            raise _no_trainer(session)
        raise WorkbenchError(f"the trainer of session {session.name!r} did not answer{detail}", exit_code=1)
    try:
        reply = json.loads(line)
    except ValueError:
        raise WorkbenchError(f"the trainer of session {session.name!r} answered garbage: {line[:80]!r}",
                             exit_code=1) from None
    return reply if isinstance(reply, dict) else {"ok": False, "error": f"unexpected reply {reply!r}"}


def ping(session: Session, timeout: float = 5.0) -> dict[str, Any]:
    """{"ok": true, "pid", "state", "step"} from the running trainer; WorkbenchError if none."""
    return send_command(session, {"kind": "ping"}, timeout)
