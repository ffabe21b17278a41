"""Remote control of a running trainer: a Unix socket, `control.sock`, in the session folder.

    with ControlServer(session, trainer):          # only while holding the session lock
        ...
    send_command(session, {"kind": "pause"})       # from any other process of the same user

The protocol is one JSON object per line each way. A request is a command dict
(`commands.command_from_dict`, e.g. {"kind": "pause"}) or {"kind": "ping"}; the reply is
{"ok": true, ...} or {"ok": false, "error": "..."}. No network port: the socket is mode 0600
in a 0700 folder, so only the owning user reaches it (over SSH as well). When nobody is
connected it costs the trainer one thread blocked in accept().

Pure Python: a client never imports torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import tempfile
import threading
import time
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from workbench.engine import commands as cmd
from workbench.engine.errors import WorkbenchError
from workbench.engine.session import Session

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024
"""Bytes in one request line; a longer one is refused (and its connection closed)."""
MAX_CONNECTIONS = 32
"""Clients served at once; each costs a thread while connected."""
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
_HINTS: dict[type, dict[str, Any]] = {}


def _allowed_types(hint: Any) -> tuple[type, ...]:
    args = typing.get_args(hint)
    return args if args else (hint,)


def _check_value(name: str, value: Any, hint: Any) -> None:
    """JSON gives any type; the trainer compares and does arithmetic on these, and a TypeError
    there would end the run. Ints pass for floats; bools pass for nothing but bool."""
    allowed = _allowed_types(hint)
    if value is None and type(None) in allowed:
        return
    if isinstance(value, bool):
        ok = bool in allowed
    elif isinstance(value, int):
        ok = int in allowed or float in allowed
    else:
        ok = any(isinstance(value, t) for t in allowed if isinstance(t, type) and t is not type(None))
    if not ok:
        names = " or ".join("null" if t is type(None) else getattr(t, "__name__", str(t)) for t in allowed)
        raise ValueError(f"{name!r} must be {names}, got {json.dumps(value)}")


def parse_command(data: Any) -> cmd.Command:
    """A command from a request dict, with every field type-checked; ValueError if unusable."""
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise ValueError('a request is a JSON object with a "kind", e.g. {"kind": "pause"}')
    kind = data["kind"]
    cls = cmd.COMMAND_TYPES.get(kind)
    if cls is None:
        known = ", ".join(["ping", *cmd.COMMAND_TYPES])
        raise ValueError(f"unknown command {kind!r} (known: {known})")
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    extra = sorted(set(data) - names - {"kind"})
    if extra:
        raise ValueError(f"command {kind!r} takes no {', '.join(map(repr, extra))}")
    missing = [f.name for f in fields(cls) if f.name not in data
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise ValueError(f"command {kind!r} needs {', '.join(map(repr, missing))}")
    for name in names:
        if name in data:
            _check_value(name, data[name], hints[name])
    return cmd.command_from_dict(data)


# -- the server (in the trainer's process) -----------------------------------------------
class ControlServer:
    """Serves control requests for `trainer` until closed. Use it only while holding the
    session lock (the trainer's `run(while_locked=...)`): the lock holder owns the socket
    path, so a socket file found at start is a dead trainer's and is replaced."""

    def __init__(self, session: Session, trainer: Any) -> None:
        self.session = session
        self.trainer = trainer
        self.path = socket_path(session)
        self._sock: socket.socket | None = None
        self._identity: tuple[int, int] | None = None
        self._closing = threading.Event()
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> "ControlServer":
        path = self.path
        if path.parent != self.session.root:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _Address(path) as address:
                sock.bind(address)
            os.chmod(path, 0o600)
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        st = os.stat(path)
        self._identity = (st.st_dev, st.st_ino)
        self._sock = sock
        if path.parent != self.session.root:
            # Not where a client looks first: say where it is. (The trainer thread calls
            # start() before its own first status write, so this cannot race with it.)
            self.session.write_status(control_socket=str(path))
        self._thread = threading.Thread(target=self._serve, name="workbench-control", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and remove the socket file (only if it is still ours)."""
        if self._sock is None:
            return
        self._closing.set()
        sock, self._sock = self._sock, None
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            self._wake()
        sock.close()
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(2.0)
        try:
            st = os.stat(self.path)
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

    def _wake(self) -> None:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s, _Address(self.path) as address:
                s.settimeout(0.5)
                s.connect(address)
        except OSError:
            pass

    def _serve(self) -> None:
        sock = self._sock
        while sock is not None and not self._closing.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                if self._closing.is_set():
                    return
                time.sleep(0.05)  # EMFILE and the like: do not spin
                continue
            with self._clients_lock:
                crowded = len(self._clients) >= MAX_CONNECTIONS
                if not crowded:
                    self._clients.add(conn)
            if crowded:
                self._reply(conn, {"ok": False, "error": f"too many control connections (at most {MAX_CONNECTIONS})"})
                conn.close()
                continue
            threading.Thread(target=self._serve_client, args=(conn,), name="workbench-control-client",
                             daemon=True).start()

    def _serve_client(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while not self._closing.is_set():
                newline = buffer.find(b"\n")
                if newline < 0:
                    if len(buffer) > MAX_REQUEST:
                        self._reply(conn, {"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"})
                        return
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                    continue
                line, buffer = buffer[:newline], buffer[newline + 1:]
                if line.strip():
                    self._reply(conn, self.handle(line))
        except Exception:  # a client that misbehaves or vanishes only loses its connection
            pass
        finally:
            with self._clients_lock:
                self._clients.discard(conn)
            conn.close()

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

    @staticmethod
    def _reply(conn: socket.socket, reply: dict[str, Any]) -> None:
        conn.sendall((json.dumps(reply) + "\n").encode())


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
    with sock:
        try:
            sock.sendall((json.dumps(data) + "\n").encode())
            buffer = b""
            while b"\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
        except OSError as exc:
            buffer = b""
            detail = f" ({exc})"
        else:
            detail = ""
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
