"""Checkpoint files: plain dicts of tensors and plain values, written atomically.

Written as temporary file -> fsync -> rename -> fsync of the folder, so a crash or kill -9
at any moment leaves the previous checkpoint in place and loadable. Loaded only with
`weights_only=True`: a checkpoint file can never run code.
"""
from __future__ import annotations

import errno
import os
import pickle
import shutil
import warnings
from pathlib import Path
from typing import Any

from workbench.engine.errors import WorkbenchError

FORMAT = "workbench-checkpoint"
VERSION = 1


class CheckpointError(WorkbenchError):
    """A checkpoint file is missing, truncated, corrupt or not a workbench checkpoint."""


def load_first_good(paths: list[Path]) -> tuple[dict[str, Any], Path, list[str]]:
    """The first of `paths` that loads, with the errors of those before it (a corrupt
    latest.pt falls back to an older checkpoint). CheckpointError when none loads."""
    errors: list[str] = []
    for path in paths:
        try:
            return load_checkpoint(path), path, errors
        except CheckpointError as exc:
            errors.append(str(exc))
    raise CheckpointError("; ".join(errors) or "no checkpoint to load")


def fsync_dir(folder: Path) -> None:
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


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # someone may have deleted the folder by hand
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        full = not isinstance(exc, OSError) and _disk_is_full(tmp)
        tmp.unlink(missing_ok=True)
        if full:  # torch's zip writer reports a full disk as "unexpected pos ..."
            raise OSError(errno.ENOSPC, f"No space left on device writing {path}") from exc
        raise
    fsync_dir(path.parent)


def _disk_is_full(partial: Path) -> bool:
    """Whether a failed write most likely ran out of space: less room left than it had written."""
    try:
        written = partial.stat().st_size
        return shutil.disk_usage(partial.parent).free < max(written, 1 << 20)
    except OSError:
        return False


def link_atomically(source: Path, target: Path) -> None:
    """Make `target` name the same file as `source`, replacing it atomically.

    A hard link costs no second write of a multi-megabyte file; where links are not
    supported the file is copied (still through a temporary name)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        import shutil

        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def _unpickler_reason(message: str) -> str:
    """What torch's weights-only unpickler met (e.g. "unsupported GLOBAL posix.system"), as
    " (...)", without the paragraphs about its defaults and docs around it. Their wording
    changes between torch releases: the text after "WeightsUnpickler error:" when there is one,
    else the first line that is none of the known boilerplate."""
    _, marker, rest = message.partition("WeightsUnpickler error:")
    boilerplate = ("Weights only load failed", "Check the documentation", "Please file an issue", "(1)", "(2)")
    for line in (rest if marker else message).splitlines():
        line = line.strip()
        if line and not line.startswith(boilerplate):
            return f" ({line[:120]})"
    return ""


def load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():
            # torch warns on stderr about pickle protocols it does not expect; the error below
            # says what matters, on one line
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint {path} holds objects other than tensors and plain values and was refused "
            f"without running it{_unpickler_reason(str(exc))}; only load files you trust"
        ) from None
    except Exception as exc:  # noqa: BLE001 - torn bytes make the unpickler fail in many ways
        # (RuntimeError, EOFError, BadZipFile, IndexError from a stray byte, ...): all "corrupt".
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({reason[:120]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a workbench checkpoint")
    if data.get("version", 0) > VERSION:
        raise CheckpointError(f"checkpoint {path} is from a newer workbench (format {data['version']}); upgrade workbench")
    return data
