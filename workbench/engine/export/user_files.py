"""Files at paths the user names: an export's CSV, a saved sample, a screenshot, a bench's
results, a TensorBoard folder.

A path given on the command line or in a form may hold anything, and what is there is the
user's, not ours. An atomic rename over it would turn /dev/null into a regular file for the
whole machine (run as root), a symbolic link into a file (its target left stale), a 0644 file
into our 0600 one, and split a hard link. So, by what is at the path when we look:

    nothing                         a new file, made atomically, its mode from the umask
    a regular file we may write     replaced atomically, keeping its mode, owner and group
                                    (the owner where we are allowed to: as root, or our own)
    a regular file with hard links  written in place once the whole text is ready, so every
                                    name sees the new text
    a symbolic link                 followed: these same rules for its target (a dangling
                                    link's target is made, as a shell's `>` would)
    a FIFO or a character device    streamed into (so /dev/stdout, /dev/null or a named pipe
                                    take it as `-` does standard output)
    anything else                   refused in one line, nothing changed: a folder, a socket,
                                    a block device, a link loop, a file we may not write

    target = output_target(given, "--csv")    # checked now, before the work that fills it
    with target.open() as out:                # bytes
        out.write(...)

Pure Python: no torch.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from workbench.engine.errors import WorkbenchError
from workbench.engine.files import fsync_dir, temporary_name

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)

STDOUT = "stdout"
NEW = "new"
REPLACE = "replace"
IN_PLACE = "in place"
STREAM = "stream"


@dataclass(frozen=True)
class OutputTarget:
    """Where a file the user named goes, and how it is written there."""

    given: str
    """As the user wrote it (for messages)."""
    what: str
    """What named it: a flag (--csv) or a form's words."""
    how: str
    """STDOUT, NEW, REPLACE, IN_PLACE or STREAM."""
    path: Path | None
    """The file itself (a link's target); None for standard output."""

    @property
    def shown(self) -> str:
        return "standard output" if self.path is None else str(self.path)

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """A binary file to write the whole output into. Nothing at the path changes before the
        block ends without an error, except a stream, which takes the bytes as they come."""
        try:
            if self.how == STDOUT:
                out = sys.stdout.buffer
                yield out
                out.flush()
            elif self.how == STREAM:
                yield from _streamed(self)
            elif self.how == IN_PLACE:
                yield from _in_place(self)
            else:
                yield from _replaced(self)
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) and self.how == STDOUT:
                raise  # `| head`: the reader left (reporting_errors says nothing)
            raise WorkbenchError(f"{self.what} {self.given}: could not write it: "
                                 f"{(exc.strerror or str(exc)).lower()}", exit_code=1) from None

    def write_bytes(self, data: bytes) -> None:
        with self.open() as out:
            out.write(data)

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode("utf-8"))


def output_target(given: str, what: str, *, dash: bool = True) -> OutputTarget:
    """The target for a file the user named (`-`: standard output, where `dash`: a command
    line's), or a one-line error that says why nothing will be written there."""
    if given == "-" and dash:
        return OutputTarget(given, what, STDOUT, None)
    if not given.strip():
        raise WorkbenchError(f"{what} needs a file name" + (" (or - for standard output)" if dash else ""))
    path = Path(given).expanduser()
    if not os.path.islink(path):
        return OutputTarget(given, what, _how(path, what, given, dash), path)
    try:
        st = os.stat(path)  # what the link leads to
    except FileNotFoundError:
        st = None  # dangling: its target is made
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WorkbenchError(f"{what} {given} is a symbolic link that leads round in a loop; give another "
                                 "path") from None
        raise WorkbenchError(f"{what} {given}: {(exc.strerror or str(exc)).lower()}") from None
    if st is not None and (stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        # Opened through the link itself: /dev/stdout leads to /proc/self/fd/1, whose own
        # target (pipe:[1234]) is no path at all.
        return OutputTarget(given, what, STREAM, path)
    target = Path(os.path.realpath(path))
    return OutputTarget(given, what, _how(target, what, given, dash), target)


def _how(path: Path, what: str, given: str, dash: bool) -> str:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        folder = path.parent
        if not folder.is_dir():
            raise WorkbenchError(f"{what} {given}: the folder {folder} does not exist") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise WorkbenchError(f"{what} {given}: you may not make files in {folder}") from None
        return NEW
    except OSError as exc:
        raise WorkbenchError(f"{what} {given}: {(exc.strerror or str(exc)).lower()}") from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise WorkbenchError(f"{what} {given} is a folder; give a file name" + (" (or - for standard output)" if dash else ""))
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return STREAM
    if not stat.S_ISREG(mode):
        kind = "a socket" if stat.S_ISSOCK(mode) else "a block device" if stat.S_ISBLK(mode) else "a special file"
        raise WorkbenchError(f"{what} {given} is {kind}; workbench writes only files, pipes and character devices "
                             "such as /dev/stdout: give another path")
    if not os.access(path, os.W_OK):
        raise WorkbenchError(f"{what} {given} is a file you may not write; give another path (nothing was changed)")
    return IN_PLACE if st.st_nlink > 1 else REPLACE


def _streamed(target: OutputTarget) -> Iterator[IO[bytes]]:
    assert target.path is not None
    fd = os.open(target.path, os.O_WRONLY | _NOCTTY | _CLOEXEC)  # may be a link: what it opened is checked
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):  # swapped since we looked: write nothing there
        os.close(fd)
        raise WorkbenchError(f"{target.what} {target.given} changed while it was being written; nothing was written")
    with os.fdopen(fd, "wb") as out:
        yield out


def _replaced(target: OutputTarget) -> Iterator[IO[bytes]]:
    """A temporary file beside the target, renamed over it once complete (NEW or REPLACE)."""
    path = target.path
    assert path is not None
    tmp = temporary_name(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # a dead writer's leftover with our pid (pids are reused)
    # A new file gets the umask's mode, as any tool's output does; a replaced one its own,
    # set below, so the temporary file starts private.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                 0o666 if target.how == NEW else 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            if target.how == REPLACE:
                _keep_mode_and_owner(out.fileno(), path, target)
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _keep_mode_and_owner(fd: int, path: Path, target: OutputTarget) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return  # removed meanwhile: the new file is ours, as a new one would be
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        raise WorkbenchError(f"{target.what} {target.given} changed while it was being written; nothing was changed")
    if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)  # allowed to root
        except PermissionError:
            with contextlib.suppress(PermissionError):
                os.fchown(fd, -1, st.st_gid)  # a group we are in
    os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))  # after chown, which clears them


def _in_place(target: OutputTarget) -> Iterator[IO[bytes]]:
    """A file with other hard links: the whole output first into an unnamed temporary file,
    then copied into the file itself (every name of it sees the new text)."""
    path = target.path
    assert path is not None
    with tempfile.TemporaryFile(dir=path.parent) as spool:
        yield spool  # type: ignore[misc]
        spool.flush()
        spool.seek(0)
        fd = os.open(path, os.O_WRONLY | _NOFOLLOW | _CLOEXEC)
        with os.fdopen(fd, "wb") as out:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise WorkbenchError(f"{target.what} {target.given} changed while it was being written")
            out.truncate(0)
            shutil.copyfileobj(spool, out)
            out.flush()
            os.fsync(fd)


def output_folder(given: str, what: str) -> Path:
    """A folder the user named for files of ours (a TensorBoard log folder): absolute; a folder,
    a link to one, or nothing yet (made on first use). Anything else is a one-line error."""
    if not given.strip():
        raise WorkbenchError(f"{what} needs a folder")
    folder = Path(given.strip()).expanduser().resolve()
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return folder
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WorkbenchError(f"{what} {given} is a symbolic link that leads round in a loop") from None
        raise WorkbenchError(f"{what} {given}: {(exc.strerror or str(exc)).lower()}") from None
    if not stat.S_ISDIR(st.st_mode):
        kind = "a file" if stat.S_ISREG(st.st_mode) else "not a folder (a device, pipe or socket)"
        raise WorkbenchError(f"{what} {folder} is {kind}, not a folder; give the folder TensorBoard reads (--logdir)")
    return folder
