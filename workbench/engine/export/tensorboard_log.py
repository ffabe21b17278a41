"""A session in TensorBoard: its metrics.jsonl and samples.jsonl as TensorBoard event files.

    run = TensorBoardRun(run_folder(logdir, session.name))   # reads back what the folder holds
    run.write(metrics_records, sample_records)               # appends only what is new there
    run.close()

One TensorBoard run per session, the folder LOGDIR/SESSION-NAME, so that `tensorboard --logdir
LOGDIR` shows every session exported or trained there side by side. `workbench export
--tensorboard` writes it once (export_tensorboard); a trainer whose config names a folder
writes it as it trains (tensorboard_live.py), with this same code, so both hold the same
values: the session files' own (rounded as in metrics.jsonl), at the records' wall times.

Nothing is written twice. When a run opens, it reads back the event files already in its
folder and notes, per tag, the last step they hold; from then on it writes a value only at a
later step. Re-running an export writes nothing; an export after more training, a resumed
trainer or a trainer started after an export carry on where the folder ends. Each writer (one
export, one trainer run) appends to a new event file of its own, made only when it has
something to write, and event files are never rewritten. (A trainer killed by -9 and resumed
from an earlier checkpoint trains some steps again: the folder keeps what the first pass logged
at those steps, at its wall times.)

Scalars (each at the step of its metrics record): loss/train, loss/val (every validation,
cheap estimate or full pass), loss/val_full (full passes only), the same three in
bits_per_char/, optimizer/lr, optimizer/grad_norm, speed/chars_per_sec and progress/epoch;
TensorBoard keeps scalars as float32 (`simple_value`). Samples: text under the tag "samples",
a line of settings then the sample as a Markdown code block (TensorBoard's text tab renders
Markdown, which would reflow a sample's lines).

The tensorboard package is an optional extra, imported only here and only when used.
"""
from __future__ import annotations

import heapq
import importlib
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from workbench.engine.errors import WorkbenchError
from workbench.engine.jsonl import JsonlReader
from workbench.engine.sessions.session import Session
from workbench.engine.units import bits_per_char
from workbench.engine.export.user_files import output_folder

SAMPLES_TAG = "samples"
_PLAIN_SCALARS = (("optimizer/lr", "lr"), ("optimizer/grad_norm", "grad_norm"),
                  ("speed/chars_per_sec", "chars_per_sec"), ("progress/epoch", "epoch"))


def require_tensorboard() -> None:
    """A one-line error naming the install command when the tensorboard package is missing."""
    try:
        importlib.import_module("tensorboard")
    except ImportError:
        raise WorkbenchError(f"TensorBoard logs need the tensorboard package, which is not installed; install it "
                             f"with: {sys.executable} -m pip install 'tensorboard>=2.14' (workbench's "
                             f"[tensorboard] extra)") from None


def checked_logdir(text: str, what: str = "--tensorboard") -> Path:
    """A TensorBoard log folder as the user gave it: absolute, a folder or nothing yet
    (user_files.output_folder's rule), with the package installed (so a mistake is one line
    now, not a warning in a trainer's log later)."""
    folder = output_folder(text, what)
    require_tensorboard()
    return folder


def logdir_setting(text: str, what: str = "--tensorboard") -> str | None:
    """TrainConfig.tensorboard for what a user gave (a flag, a form field): None when blank,
    else the checked, absolute folder."""
    return str(checked_logdir(text, what)) if text and text.strip() else None


def run_folder(logdir: Path, session_name: str) -> Path:
    """Where a session's event files go: its own TensorBoard run inside the log folder."""
    folder = Path(logdir) / session_name
    if folder.exists() and not folder.is_dir():
        raise WorkbenchError(f"{folder} is a file; TensorBoard's run folder for session {session_name!r} goes there")
    return folder


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def scalars_of(record: dict[str, Any]) -> dict[str, float]:
    """The scalars of one metrics.jsonl record, by tag (losses in nats and bits per character)."""
    out: dict[str, float] = {}
    for tag, key in (("train", "train_loss"), ("val", "val_loss")):
        nats = _number(record.get(key))
        if nats is not None:
            out[f"loss/{tag}"] = nats
            out[f"bits_per_char/{tag}"] = bits_per_char(nats)  # type: ignore[assignment]
    if "loss/val" in out and record.get("val_full") is True:
        out["loss/val_full"], out["bits_per_char/val_full"] = out["loss/val"], out["bits_per_char/val"]
    for tag, key in _PLAIN_SCALARS:
        value = _number(record.get(key))
        if value is not None:
            out[tag] = value
    return out


def sample_markdown(record: dict[str, Any]) -> str:
    """A samples.jsonl record as TensorBoard shows it: its settings, then the text verbatim
    (an indented code block: every line of the text, four spaces in)."""
    top_k, top_p = record.get("top_k"), record.get("top_p")
    settings = [f"temperature {record.get('temperature')}", f"top-k {top_k or 'off'}", f"top-p {top_p or 'off'}",
                f"{record.get('length')} characters after the prime"]
    text = str(record.get("text", ""))
    return " \u00b7 ".join(settings) + "\n\n" + "\n".join("    " + line for line in text.split("\n"))


@dataclass
class Written:
    """What one write appended."""

    values: int = 0
    """Scalar values."""
    steps: int = 0
    """Metrics records (steps) they came from."""
    samples: int = 0

    def add(self, other: "Written") -> None:
        self.values += other.values
        self.steps += other.steps
        self.samples += other.samples


class TensorBoardRun:
    """One session's run folder: what it holds already (read back once), and a file of our own
    that new events are appended to. Used from one thread at a time."""

    def __init__(self, folder: Path) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

        self._pb = (event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2)
        self.folder = Path(folder)
        self.last_steps = last_steps(self.folder)
        """Per tag, the last step the folder holds (-1: none)."""
        self._file: Any = None  # a RecordWriter, made on the first write

    def write(self, metrics: Iterable[dict[str, Any]], samples: Iterable[dict[str, Any]] = ()) -> Written:
        """Append the values of these records at steps past what the folder holds."""
        event_pb2, summary_pb2 = self._pb[0], self._pb[1]
        events, written = [], Written()
        for record in metrics:
            step = record.get("step")
            if not isinstance(step, int) or isinstance(step, bool):
                continue  # not a record of ours
            values = [summary_pb2.Summary.Value(tag=tag, simple_value=value)
                      for tag, value in scalars_of(record).items() if step > self.last_steps.get(tag, -1)]
            if values:
                events.append(event_pb2.Event(wall_time=_time(record), step=step,
                                              summary=summary_pb2.Summary(value=values)))
                written.values += len(values)
                written.steps += 1
                for value in values:
                    self.last_steps[value.tag] = step
        for record in samples:
            step = record.get("step")
            if isinstance(step, int) and not isinstance(step, bool) and step > self.last_steps.get(SAMPLES_TAG, -1):
                events.append(event_pb2.Event(wall_time=_time(record), step=step,
                                              summary=summary_pb2.Summary(value=[self._text(record)])))
                written.samples += 1
                self.last_steps[SAMPLES_TAG] = step
        if events:
            events.sort(key=lambda e: e.step)  # stable: a step's scalars before its sample
            self._append(events)
        return written

    def _text(self, record: dict[str, Any]) -> Any:
        _, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2 = self._pb
        plugin = summary_pb2.SummaryMetadata.PluginData(plugin_name="text")
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                                        string_val=[sample_markdown(record).encode("utf-8", "replace")])
        return summary_pb2.Summary.Value(tag=SAMPLES_TAG, metadata=summary_pb2.SummaryMetadata(plugin_data=plugin),
                                         tensor=tensor)

    def _append(self, events: list[Any]) -> None:
        if self._file is None:
            self._file = self._new_file()
        for event in events:
            self._file.write(event.SerializeToString())
        self._file.flush()  # a TensorBoard reading the folder sees each batch at once

    def _new_file(self) -> Any:
        """A new event file (TensorBoard's naming: it reads files with "tfevents" in the name),
        created exclusively, never through a link, starting with the format's version record."""
        from tensorboard.summary.writer.record_writer import RecordWriter

        event_pb2 = self._pb[0]
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp, host = int(time.time()), socket.gethostname()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        for n in range(1000):
            path = self.folder / f"events.out.tfevents.{stamp:010d}.{host}.{os.getpid()}.{n}.workbench"
            try:
                fd = os.open(path, flags, 0o644)
            except FileExistsError:
                continue
            writer = RecordWriter(os.fdopen(fd, "wb"))
            writer.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
            return writer
        raise WorkbenchError(f"could not make a new event file in {self.folder}")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _time(record: dict[str, Any]) -> float:
    value = _number(record.get("time"))
    return value if value is not None else 0.0


def last_steps(folder: Path) -> dict[str, int]:
    """Per tag, the last step the event files in `folder` hold."""
    from tensorboard.compat.proto import event_pb2

    last: dict[str, int] = {}
    if not folder.is_dir():
        return last
    for path in sorted(folder.iterdir()):
        if "tfevents" not in path.name or path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as f:
            for data in _records(f):
                try:
                    event = event_pb2.Event.FromString(data)
                except Exception:  # protobuf's DecodeError: damaged, and what follows is not to be trusted
                    break
                for value in event.summary.value:
                    if event.step > last.get(value.tag, -1):
                        last[value.tag] = event.step
    return last


def _records(f: IO[bytes]) -> Iterator[bytes]:
    """The records of a TFRecord file (TensorBoard's event files), read one at a time: each a
    length, its checksum, the bytes and theirs. A torn or damaged record (a writer killed
    mid-write) ends the file. Only the length's checksum is checked: tensorboard's own reader
    checks the bytes' too, in pure Python, which makes reading back a 100,000-step history
    take seconds instead of 0.5."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    while True:
        head = f.read(12)
        if len(head) < 12 or struct.unpack("<I", head[8:12])[0] != masked_crc32c(head[:8]):
            return
        (length,) = struct.unpack("<Q", head[:8])
        if length > _MAX_EVENT:
            return  # not a record of TensorBoard's: damage
        data = f.read(length + 4)
        if len(data) < length + 4:
            return
        yield data[:length]


_MAX_EVENT = 64 << 20
"""No event of ours (a sample's text at most) comes near this; a longer length is damage."""


def export_tensorboard(session: Session, logdir: Path) -> tuple[Path, Written]:
    """Append the session's history to its run folder in `logdir`; the folder and what was new.
    Streamed: a batch of records at a time, in step order across the two logs, so memory does
    not grow with the history."""
    require_tensorboard()
    run = TensorBoardRun(run_folder(logdir, session.name))
    written = Written()
    try:
        metrics = ((r.get("step"), 0, r) for r in JsonlReader(session.metrics_path))
        samples = ((r.get("step"), 1, r) for r in JsonlReader(session.samples_path))
        batch: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        for _, which, record in heapq.merge(metrics, samples, key=_merge_key):
            batch[which].append(record)
            if len(batch[0]) + len(batch[1]) >= _BATCH:
                written.add(run.write(*batch))
                batch = ([], [])
        written.add(run.write(*batch))
    finally:
        run.close()
    return run.folder, written


_BATCH = 2000
"""Records per write while exporting: a few MB of events at most."""


def _merge_key(item: tuple[Any, int, dict[str, Any]]) -> tuple[int, int]:
    step, which, _ = item
    return (step if isinstance(step, int) and not isinstance(step, bool) else -1, which)
