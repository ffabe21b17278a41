"""A session: one folder on disk holding everything about one training run.

    sessions/NAME/
      config.json      the TrainConfig (human-readable; edited only through the CLI)
      corpus.json      where the text came from and what loading did to it
      vocab.json       the characters, in id order
      status.json      state, pid, step, epoch, best loss: rewritten atomically as it trains
      metrics.jsonl    one JSON object per logged step (append-only)
      samples.jsonl    one JSON object per sample drawn during training (append-only)
      events.jsonl     checkpoints, pauses, warnings, the end (append-only)
      checkpoints/     latest.pt, best.pt, step-NNNNNNNN.pt
      lock             flock'ed by the one trainer allowed at a time

Pure Python: listing sessions never imports torch.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from workbench.engine.sessions.checkpoint import CheckpointError, load_first_good  # torch only once one is loaded
from workbench.engine.config import TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.files import (UnsafeFile, fsync_dir, is_link, read_bytes, read_json, real_folder, refuse_link,
                                    write_json_atomic, write_text_atomic)
from workbench.engine.jsonl import JsonlWriter, parse_lines, read_jsonl  # noqa: F401 - the logs' readers, used here and by callers
from workbench.engine.sessions.lock import lock_is_held, read_lock_info
from workbench.engine.machine.processes import is_stopped
from workbench.engine.sessions.status import DAMAGED, sanitized
from workbench.models.cells import count_parameters

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # the whole name: fullmatch
ACTIVE_STATES = ("running", "paused")


def default_sessions_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_SESSIONS") or "sessions")


def check_name(name: str) -> str:
    if not name:
        raise WorkbenchError("the session name is empty; give one (letters, digits, '.', '_' and '-') or leave "
                             "out --session for a name made from the corpus, the model and the time")
    if not NAME_PATTERN.fullmatch(name):
        raise WorkbenchError(
            f"invalid session name {name!r}: use letters, digits, '.', '_' and '-' (at most 100), starting with a letter or digit"
        )
    return name


@dataclass
class Session:
    root: Path
    _status: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    # -- layout ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.root.name

    config_path = property(lambda self: self.root / "config.json")
    corpus_path = property(lambda self: self.root / "corpus.json")
    vocab_path = property(lambda self: self.root / "vocab.json")
    status_path = property(lambda self: self.root / "status.json")
    metrics_path = property(lambda self: self.root / "metrics.jsonl")
    samples_path = property(lambda self: self.root / "samples.jsonl")
    events_path = property(lambda self: self.root / "events.jsonl")
    checkpoints_dir = property(lambda self: self.root / "checkpoints")
    lock_path = property(lambda self: self.root / "lock")
    log_path = property(lambda self: self.root / "trainer.log")
    """What a detached trainer prints (engine/processes/launcher.py)."""

    FILES = ("config.json", "corpus.json", "vocab.json", "status.json", "metrics.jsonl", "samples.jsonl",
             "events.jsonl", "lock", "trainer.log")
    """The regular files of a session folder."""

    def check_layout(self) -> None:
        """Refuse a session whose own files are links (or not files), before writing to it: a
        trainer must never append to, truncate or delete in a folder the link points to."""
        for name in self.FILES:
            path = self.root / name
            if is_link(path) or (path.exists() and not path.is_file()):
                raise refuse_link(path, f"session {self.name!r}'s own {name}")
        real_folder(self.checkpoints_dir, f"session {self.name!r}'s own checkpoints folder")

    def check_checkpoint_files(self) -> None:
        """Refuse a checkpoint name held by something other than a file or a link (a folder
        called latest.pt): the next save could not replace it, and steps would be lost."""
        for path in self.checkpoints_folder().glob("*.pt"):
            if not is_link(path) and not path.is_file():
                raise WorkbenchError(f"session {self.name!r}: {path} is not a checkpoint file (a folder?); "
                                     "move it out of the session to continue")

    def checkpoints_folder(self) -> Path:
        """The checkpoints folder, checked to be the session's own (not a link elsewhere) before
        anything in it is deleted or replaced."""
        return real_folder(self.checkpoints_dir, f"session {self.name!r}'s own checkpoints folder")

    # -- creation and opening -----------------------------------------------------------
    @classmethod
    def create(cls, sessions_dir: Path, name: str, config: TrainConfig, corpus_info: dict[str, Any], vocab: list[str]) -> "Session":
        """A new session, made whole or not at all: its files are written in a hidden folder
        beside it that is renamed into place last, so a failure (or a kill) half way leaves no
        half-made session that `train` would call existing and `resume` missing."""
        check_name(name)
        sessions_dir = Path(sessions_dir)
        sessions_dir.mkdir(parents=True, exist_ok=True)
        root = sessions_dir / name
        _reserve(root)
        building = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".new", dir=sessions_dir))
        try:
            draft = cls(building)
            draft.checkpoints_dir.mkdir(mode=0o700)
            write_json_atomic(draft.vocab_path, vocab)
            write_json_atomic(draft.corpus_path, corpus_info)
            draft.write_config(config)
            draft.write_status(state="created", step=0, epoch=0, best_val_loss=None,
                               params=count_parameters(len(vocab), config.cell, config.hidden, config.layers))
            try:
                os.rename(building, root)  # over the empty reservation
            except OSError:  # another process made a session of that name meanwhile
                raise _exists(root) from None
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            with contextlib.suppress(OSError):
                root.rmdir()  # only if still the empty reservation
            raise
        fsync_dir(sessions_dir)
        return cls(root)

    @classmethod
    def open(cls, sessions_dir: Path, name: str) -> "Session":
        """The session called `name`, or the one session whose name starts with it (as git and
        docker take a unique prefix); an exact name always wins."""
        check_name(name)
        root = Path(sessions_dir) / name
        if (root / "config.json").is_file():
            return cls(root)
        known = [s.name for s in iter_sessions(sessions_dir)]
        matches = [k for k in known if k.startswith(name)]
        if len(matches) == 1:
            return cls(Path(sessions_dir) / matches[0])
        folder = Path(sessions_dir).absolute()
        if matches:
            shown = ", ".join(matches[:8]) + (", ..." if len(matches) > 8 else "")
            raise WorkbenchError(f"{name!r} starts {len(matches)} session names in {folder}: {shown}; "
                                 "type more of the name")
        hint = f" (sessions here: {', '.join(known[:8])}{', ...' if len(known) > 8 else ''})" if known else ""
        raise WorkbenchError(f"no session named {name!r} in {folder}{hint}; see `workbench sessions`")

    # -- files --------------------------------------------------------------------------
    def read_config(self) -> TrainConfig:
        try:
            return TrainConfig.from_dict(read_json(self.config_path))
        except UnsafeFile as exc:
            raise WorkbenchError(f"session {self.name!r}: {exc}") from None
        except (OSError, ValueError, TypeError) as exc:
            raise WorkbenchError(f"session {self.name!r} has an unreadable config.json ({exc}); fix that file") from None

    def write_config(self, config: TrainConfig) -> None:
        write_json_atomic(self.config_path, config.to_dict())

    def read_vocab_file(self) -> list[str]:
        """vocab.json as it is; a one-line error when it is missing or damaged."""
        try:
            vocab = read_json(self.vocab_path)
        except FileNotFoundError:
            raise WorkbenchError(f"session {self.name!r}: vocab.json is missing") from None
        except (OSError, ValueError) as exc:
            raise WorkbenchError(f"session {self.name!r}: vocab.json is unreadable ({exc})") from None
        if not (isinstance(vocab, list) and vocab and all(isinstance(ch, str) and len(ch) == 1 for ch in vocab)):
            raise WorkbenchError(f"session {self.name!r}: vocab.json is not a list of characters")
        if len(set(vocab)) != len(vocab):
            twice = next(ch for ch in vocab if vocab.count(ch) > 1)
            raise WorkbenchError(f"session {self.name!r}: vocab.json is damaged (it lists {twice!r} more than once)")
        return vocab

    def read_vocab(self, *, fallback: list[str] | None = None, repair: bool = False) -> list[str]:
        """vocab.json. When that file is lost or damaged: the copy every checkpoint carries,
        else `fallback` (a session that never trained has its corpus's vocabulary), else a
        one-line error. `repair` (only for the lock holder) writes the recovered list back."""
        try:
            return self.read_vocab_file()
        except WorkbenchError as problem:
            vocab = self._vocab_from_checkpoints() or fallback
            if not vocab:
                raise WorkbenchError(f"{problem} and no checkpoint holds a copy; "
                                     "restore that file from a backup or start a new session") from None
        if repair:
            write_json_atomic(self.vocab_path, vocab)
        return list(vocab)

    def _vocab_from_checkpoints(self) -> list[str] | None:
        try:
            data, _, _ = load_first_good(self.restore_candidates())
        except CheckpointError:
            return None
        vocab = data.get("vocab")
        return list(vocab) if isinstance(vocab, (list, tuple)) and vocab else None

    def read_corpus_info(self) -> dict[str, Any]:
        try:
            info = read_json(self.corpus_path)
        except (OSError, ValueError, UnsafeFile):
            return {}
        return info if isinstance(info, dict) else {}

    def update_corpus_info(self, **fields: Any) -> None:
        """corpus.json with `fields` changed (only by the holder of the lock)."""
        write_json_atomic(self.corpus_path, {**self.read_corpus_info(), **fields})

    def read_status(self) -> dict[str, Any]:
        try:
            status = read_json(self.status_path)
            if isinstance(status, dict):
                return sanitized(status)
        except (OSError, ValueError, UnsafeFile):
            pass
        # Lost or damaged (status.json is rewritten atomically, so only a hand or a full disk
        # does this): what the history says, and "stopped" when there is something to resume.
        status: dict[str, Any] = {"state": "created", "step": 0, "epoch": 0}
        if self.has_checkpoint():
            metrics = read_jsonl(self.metrics_path) if self.metrics_path.exists() else []
            last = metrics[-1] if metrics else {}
            status.update(state="stopped", step=last.get("step", 0), epoch=int(last.get("epoch", 0)))
        return status

    def write_status(self, **fields: Any) -> dict[str, Any]:
        # The writer (the trainer, holding the lock) keeps its last status in memory, so a
        # report every log interval is one write, not a read and a write.
        if self._status is None:
            self._status = self.read_status() if self.status_path.exists() else {}
            self._status.pop(DAMAGED, None)  # rewritten whole now: the damage is gone
        status = self._status
        status.update(fields)
        status["updated"] = time.time()
        # Not fsynced: it is rewritten every log interval, and a lost one is rebuilt from the
        # history (read_status).
        write_json_atomic(self.status_path, status, durable=False)
        return status

    def live_status(self) -> dict[str, Any]:
        """status.json, corrected for a trainer that died without saying so, and with
        "suspended" true for one stopped by a signal."""
        status = self.read_status()
        if status.get("state") in ACTIVE_STATES and not lock_is_held(self.lock_path):
            status["state"] = "failed"
            status.setdefault("error", None)
            status["error"] = status["error"] or f"the trainer (process {status.get('pid')}) ended without saving its state (killed or crashed)"
        elif status.get("state") in ACTIVE_STATES and is_stopped(status.get("pid")):
            status["suspended"] = True  # SIGSTOP or Ctrl-Z: it holds the lock but does nothing
        return status

    def lock_holder(self) -> dict[str, Any] | None:
        return read_lock_info(self.lock_path) if lock_is_held(self.lock_path) else None

    # -- checkpoints --------------------------------------------------------------------
    def checkpoint_path(self, which: str | int) -> Path:
        if isinstance(which, int) or (str(which).isascii() and str(which).isdigit()):
            return self.checkpoints_dir / f"step-{int(which):08d}.pt"
        return self.checkpoints_dir / f"{which}.pt"

    def restore_candidates(self) -> list[Path]:
        """Checkpoints to restore "latest" from, in order: latest, the kept step checkpoints
        newest first, then best (older, but a whole run's best is better than nothing)."""
        steps = [path for _, path in reversed(self.step_checkpoints())]
        paths = [self.checkpoint_path("latest"), *steps, self.checkpoint_path("best")]
        return [path for path in paths if path.exists()]

    def step_checkpoints(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.checkpoints_dir.glob("step-*.pt"):
            try:
                found.append((int(path.stem.split("-", 1)[1]), path))
            except ValueError:
                continue
        return sorted(found)

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path("latest").exists() or bool(self.step_checkpoints())

    # -- logs ---------------------------------------------------------------------------
    def truncate_logs_after(self, step: int) -> int:
        """Drop records past `step` (written after the checkpoint a resume starts from), so
        the history never holds a step twice or out of order. Returns how many were dropped."""
        dropped = 0
        for path in (self.metrics_path, self.samples_path, self.events_path):
            if not path.exists():
                continue
            raw = read_bytes(path)
            records = parse_lines(raw[: raw.rfind(b"\n") + 1])
            keep = [r for r in records if r.get("step", 0) <= step]
            torn = raw.count(b"\n") != len(records) or (raw and not raw.endswith(b"\n"))
            if len(keep) != len(records) or torn:
                dropped += len(records) - len(keep)
                write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))
        return dropped

    def summary(self) -> dict[str, Any]:
        """The fields `workbench sessions` shows."""
        try:
            self.check_layout()
            config = self.read_config()
        except WorkbenchError as exc:
            return {"name": self.name, "state": "broken", "error": str(exc)}
        status = self.live_status()
        damage = status.get(DAMAGED)
        if damage and "state" not in status:
            return {"name": self.name, "state": "broken", "error": f"session {self.name!r}: {damage}"}
        corpus = self.read_corpus_info()
        return {
            "name": self.name,
            "corpus": corpus.get("name", config.corpus),
            "cell": config.cell,
            "hidden": config.hidden,
            "layers": config.layers,
            "params": status.get("params"),
            "steps": status.get("step", 0),
            "epoch": status.get("epoch", 0),
            "best_val_loss": status.get("best_val_loss"),
            "state": status.get("state", "created"),
            "updated": status.get("updated"),
            "device": status.get("device"),  # as the trainer ran it, e.g. "cpu bf16"
            "shape": status.get("shape"),  # a group's, e.g. "2 x cpu, gloo" (None for one process)
            "precision": config.precision,  # as asked (auto, fp32, bf16)
            "pid": status.get("pid") if status.get("state") in ACTIVE_STATES else None,
            "suspended": bool(status.get("suspended")),
            "error": status.get("error") or (f"session {self.name!r}: {damage}" if damage else None),
            "path": str(self.root),
        }


def check_new_name(sessions_dir: Path, name: str) -> None:
    """A one-line error unless a new session can be called `name` here."""
    check_name(name)
    root = Path(sessions_dir) / name
    if os.path.lexists(root) and not (root.is_dir() and not root.is_symlink() and not any(root.iterdir())):
        raise _exists(root)


def _reserve(root: Path) -> None:
    """Claim the session's folder name (an empty folder: one left by a create that was killed
    is taken over), or say why it is taken."""
    try:
        root.mkdir(mode=0o700)
    except FileExistsError:
        if not (root.is_dir() and not root.is_symlink() and not any(root.iterdir())):
            raise _exists(root) from None


def _exists(root: Path) -> WorkbenchError:
    name, folder = root.name, root.parent.absolute()
    if (root / "config.json").is_file():
        return WorkbenchError(f"session {name!r} already exists in {folder}; continue it with "
                              f"`workbench resume {name}` or pick another --session")
    what = "folder" if root.is_dir() else "file"
    return WorkbenchError(f"{root.absolute()} already exists and is a {what}, not a session; "
                          f"pick another --session (or move that {what} away)")


def iter_sessions(sessions_dir: Path) -> Iterator[Session]:
    sessions_dir = Path(sessions_dir)
    if not sessions_dir.is_dir():
        return
    for root in sorted(sessions_dir.iterdir()):
        # a hidden folder is a session still being made (Session.create), never listed
        if not root.name.startswith(".") and root.is_dir() and (root / "config.json").is_file():
            yield Session(root)


def list_sessions(sessions_dir: Path) -> list[dict[str, Any]]:
    """Every session's summary (`Session.summary`), the most recently updated first."""
    rows = [session.summary() for session in iter_sessions(sessions_dir)]
    return sorted(rows, key=lambda r: r.get("updated") or 0, reverse=True)


def unique_session_name(sessions_dir: Path, base: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "session"
    name, n = base, 2
    while (Path(sessions_dir) / name).exists():
        name, n = f"{base}-{n}", n + 1
    return name
