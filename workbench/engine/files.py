"""Reading and writing the files of a session: atomically, and never through a link.

Every file workbench writes goes through `write_atomic` (temporary file -> flush -> fsync ->
rename -> fsync of the folder, so a crash at any moment leaves the old file or the new one,
never half of either) or `open_append` (the JSON-lines logs, one flushed line at a time).

A session folder may come from someone else (a copied tarball) or be tampered with, so the
last component of a path is never followed when it is a symbolic link: a `metrics.jsonl` that
links to ~/.bashrc is refused, not appended to, and a FIFO planted as `status.json` is refused,
not waited on. (Links above the session, such as a sessions folder that is a link to another
disk, are the user's own layout and are followed as usual.) The temporary files are created
exclusively, so a link planted under a temporary name is not followed either.

Pure Python: no torch, no numpy.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import IO, Any, Callable

from workbench.engine.errors import WorkbenchError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

JSON_ERRORS = "backslashreplace"
"""How JSON text with a lone surrogate (a str that is not valid Unicode, as a control-socket
client can send) is encoded: as the six characters \\udXXX, which inside a JSON string is
the escape of that very code point, so the file stays valid UTF-8 and valid JSON and reads
back as the str that was written. (Only strings can hold surrogates, so only strings are
touched.)"""


class UnsafeFile(WorkbenchError):
    """A file of a session is a symbolic link, or not a regular file where one is expected."""


def refuse_link(path: Path, what: str = "a file") -> UnsafeFile:
    """The one-line error for a link or odd file where workbench expects `what`."""
    try:
        target = f" (to {os.readlink(path)})" if os.path.islink(path) else ""
    except OSError:
        target = ""
    kind = "a symbolic link" if os.path.islink(path) else "not a regular file"
    return UnsafeFile(f"{path} is {kind}{target} where workbench expects {what}; it never follows links or "
                      "reads special files inside a session: put the real file there (or remove it)")


def _open(path: Path, flags: int, mode: int = 0o600) -> int:
    """os.open without following a final link; the fd is checked to be a regular file."""
    try:
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a link
            raise refuse_link(path) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise refuse_link(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_read(path: Path) -> IO[bytes]:
    """A regular file for reading. Opened non-blocking, so a FIFO in its place is refused at
    once instead of blocking the reader until someone writes to it."""
    fd = _open(Path(path), os.O_RDONLY | _NONBLOCK)
    if _NONBLOCK:
        os.set_blocking(fd, True)  # a regular file: reads block as usual
    return os.fdopen(fd, "rb")


def read_bytes(path: Path) -> bytes:
    with open_read(path) as f:
        return f.read()


def read_json(path: Path) -> Any:
    return json.loads(read_bytes(path))


def open_append(path: Path) -> IO[str]:
    """A text file opened for appending (created 0600 when missing), never through a link.
    For JSON lines: see `JSON_ERRORS`."""
    fd = _open(Path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return os.fdopen(fd, "a", encoding="utf-8", errors=JSON_ERRORS)


def open_update(path: Path) -> int:
    """A file descriptor for reading and writing in place (created 0600 when missing), never
    through a link: for the session lock."""
    return _open(Path(path), os.O_RDWR | os.O_CREAT)


def temporary_name(path: Path, suffix: str = ".tmp") -> Path:
    """Where a new version of `path` is written before the rename: a hidden name in the same
    folder (a rename is atomic only within one file system), unique to this process."""
    return path.with_name(f".{path.name}.{os.getpid()}{suffix}")


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[IO[bytes]], None], *, durable: bool = True,
                 suffix: str = ".tmp") -> None:
    """Replace `path` with what `write(file)` writes, atomically. `durable` fsyncs the data and
    the folder (everything but the status file, which is rewritten every log interval and
    rebuilt from the history when it is lost). On any failure the temporary file is removed
    and the old `path` is left as it was."""
    path = Path(path)
    tmp = temporary_name(path, suffix)
    try:
        os.unlink(tmp)  # a dead writer's leftover with our pid (pids are reused)
    except FileNotFoundError:
        pass
    fd = _open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)  # replaces a link at `path` itself, never its target
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    write_atomic(path, lambda f: f.write(text.encode("utf-8", JSON_ERRORS)), durable=durable)


def write_json_atomic(path: Path, data: Any, *, durable: bool = True) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", durable=durable)


def is_link(path: Path) -> bool:
    return os.path.islink(path)


def real_folder(path: Path, what: str) -> Path:
    """`path` when it is a folder of its own (not a link to one elsewhere), for deleting in it."""
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        raise refuse_link(path, what)
    return path
