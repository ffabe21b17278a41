"""The trainer's side of the control socket (see control.py for the protocol and the client):
one thread blocked in select() on the listening socket, a thread per connection.

A client has REQUEST_SECONDS to send each request line. When MAX_CONNECTIONS are open, a new
client is served and the one that has waited longest for its next request is closed (and told
why), so connections held open by a stuck or hostile process can never lock out the owner's
commands. A peer of another user is refused by its credentials where the platform can tell.
"""
from __future__ import annotations

import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from typing import Any

from workbench.engine.control.client import MAX_REQUEST, Address, parse_command, socket_path
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import Session

MAX_CONNECTIONS = 32
"""Connections open at once; each costs a thread while connected. A new one beyond this closes
the connection that has been idle longest."""
REQUEST_SECONDS = 10.0
"""A client's time to send each complete request line (the CLI and the app send one at once)."""
REPLY_SECONDS = 5.0
"""A client's time to take a reply before its connection is dropped."""


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
        with Address(path) as address:
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
                check = getattr(self.trainer, "check", None)
                if check is not None:
                    check(command)  # refused now, with its reason, rather than ignored later
            except (ValueError, WorkbenchError) as exc:
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
