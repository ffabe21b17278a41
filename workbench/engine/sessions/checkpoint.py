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
from typing import IO, Any, Callable

from workbench.engine.errors import WorkbenchError
from workbench.engine.files import UnsafeFile, fsync_dir, open_read, temporary_name, write_atomic

FORMAT = "workbench-checkpoint"
VERSION = 1


class CheckpointError(WorkbenchError):
    """A checkpoint file is missing, truncated, corrupt or not a workbench checkpoint."""


Check = Callable[[dict[str, Any], Path], None]
"""Raises CheckpointError when a loaded checkpoint is not one the caller can use."""


def load_first_good(paths: list[Path], check: Check | None = None) -> tuple[dict[str, Any], Path, list[str]]:
    """The first of `paths` that loads (and passes `check`), with the errors of those before it:
    a corrupt latest.pt, or one copied in from another session, falls back to an older
    checkpoint. CheckpointError when none is good."""
    errors: list[str] = []
    for path in paths:
        try:
            data = load_checkpoint(path)
            if check is not None:
                check(data, path)
            return data, path, errors
        except CheckpointError as exc:
            errors.append(str(exc))
    raise CheckpointError("; ".join(errors) or "no checkpoint to load")


SHAPE_FIELDS = ("cell", "hidden", "layers")
"""The model_config fields that decide the weights' shapes (with the vocabulary)."""


def same_model(vocab: list[str], shape: dict[str, Any], weights: dict[str, tuple[int, ...]] | None = None) -> Check:
    """A check that a checkpoint holds the model of a session with this vocabulary and these
    SHAPE_FIELDS (and, when given, weights of these names and shapes), so that a file from
    another session is refused by name, not by a page of size-mismatch errors from torch."""

    def check(data: dict[str, Any], path: Path) -> None:
        saved = data.get("model_config")
        if not isinstance(saved, dict) or not isinstance(data.get("vocab"), list):
            raise CheckpointError(f"checkpoint {path} does not say what model it holds")
        differ = [f"{name} {saved.get(name)} where the session has {shape[name]}"
                  for name in SHAPE_FIELDS if name in shape and saved.get(name) != shape[name]]
        if data["vocab"] != vocab:
            differ.append(f"a vocabulary of {len(data['vocab'])} characters where the session's vocab.json has "
                          f"{len(vocab)}" if len(data["vocab"]) != len(vocab) else "another vocabulary")
        if differ:
            raise CheckpointError(f"checkpoint {path} is of another model ({'; '.join(differ)}): "
                                  "copied in from another session?")
        saved_weights = data.get("model")
        if weights is not None and (not isinstance(saved_weights, dict) or
                                    {k: tuple(getattr(v, "shape", ())) for k, v in saved_weights.items()} != weights):
            raise CheckpointError(f"checkpoint {path} holds weights that do not fit its model")

    return check


def load_weights(model: Any, data: dict[str, Any], path: Path | str) -> None:
    """`data`'s weights into `model`; a CheckpointError naming the file when they do not fit."""
    try:
        model.load_state_dict(data["model"])
    except (KeyError, RuntimeError, TypeError) as exc:
        # torch's first line only says "Error(s) in loading state_dict"; the second names a weight
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        raise CheckpointError(f"checkpoint {path} holds weights that do not fit its model "
                              f"({lines[min(1, len(lines) - 1)][:120]})") from None


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # someone may have deleted the folder by hand

    def write(f: IO[bytes]) -> None:
        try:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
        except OSError:
            raise
        except Exception as exc:
            if _disk_is_full(f, path.parent):  # torch's zip writer reports a full disk as "unexpected pos ..."
                raise OSError(errno.ENOSPC, f"No space left on device writing {path}") from exc
            raise

    write_atomic(path, write)


def _disk_is_full(partial: IO[bytes], folder: Path) -> bool:
    """Whether a failed write most likely ran out of space: less room left than it had written."""
    try:
        written = os.fstat(partial.fileno()).st_size
        return shutil.disk_usage(folder).free < max(written, 1 << 20)
    except OSError:
        return False


def link_atomically(source: Path, target: Path) -> None:
    """Make `target` name the same file as `source`, replacing it atomically.

    A hard link costs no second write of a multi-megabyte file; where links are not
    supported the file is copied (still through a temporary name)."""
    tmp = temporary_name(target)
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp, follow_symlinks=False)
    except OSError:
        with open_read(source) as f:
            write_atomic(target, lambda out: shutil.copyfileobj(f, out))
        return
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
    if not os.path.lexists(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        source = open_read(path)
    except UnsafeFile as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read ({exc.strerror or exc})") from None
    head = source.read(4)
    source.seek(0)
    # torch.save writes a zip archive (PK..), older torch a pickle (0x80 ...): anything else is
    # damaged or another kind of file, which the unpickler would report as "unsafe".
    if head[:2] != b"PK" and head[:1] != b"\x80":
        source.close()
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint (it is neither a zip archive "
                              "nor a pickle)" if head else f"checkpoint {path} is empty")
    try:
        with source, warnings.catch_warnings():
            # torch warns on stderr about pickle protocols it does not expect; the error below
            # says what matters, on one line
            warnings.simplefilter("ignore")
            data = torch.load(source, map_location="cpu", weights_only=True)
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
