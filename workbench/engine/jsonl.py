"""The JSON-lines logs of a session (metrics.jsonl, samples.jsonl, events.jsonl): written one
flushed line at a time, read whole or streamed.

    records = read_jsonl(path)              # every complete record (a viewer's first read)
    reader = JsonlReader(path)              # streamed in constant memory (an export)
    for record in reader: ...
    reader.damaged                          # lines skipped: not JSON, or longer than a record can be

A trainer killed mid-write leaves a torn last line; a hand-edited or damaged file can hold
anything, one 300 MB line included. Readers skip what is not a record, and the streaming one
never holds more than one bounded line, so its memory does not grow with the history.

Pure Python: no torch, no numpy.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from workbench.engine.files import open_append, open_read, read_bytes

MAX_RECORD_BYTES = 4 << 20
"""The longest line a record of ours can be: a sample of at most 50,000 characters with a
prime of at most 100,000, each written as up to 6 bytes (an escaped lone surrogate), is under
1 MB. A longer line is damage, skipped without being held in memory."""
_CHUNK = 1 << 20


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    """JSON records from complete lines. One json.loads over the lot is several times faster
    than one per line (100,000 lines: ~0.2 s against ~0.5 s); a damaged line (a trainer killed
    mid-write leaves one) sends us the slow way, which skips it."""
    return _parse(data)[0]


def _parse(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The records of complete lines, and how many non-empty lines were not records."""
    if not data:
        return [], 0
    text = data.decode("utf-8", errors="replace")
    # json.dumps never writes a raw newline inside a record, so every "\n" ends one; the
    # trailing null takes the comma after the last line (cheaper than stripping a copy).
    try:
        records = json.loads("[" + text.replace("\n", ",") + "null]")
        records.pop()
    except ValueError:
        records = None
    if records is not None and all(type(r) is dict for r in records):
        return records, 0
    records, damaged = [], 0
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            damaged += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            damaged += 1
    return records, damaged


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete records; a torn last line (a kill mid-write) is skipped."""
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        return []
    return parse_lines(data[: data.rfind(b"\n") + 1])


class JsonlReader:
    """The records of a log, streamed in chunks: memory bounded by MAX_RECORD_BYTES whatever the
    file holds. A torn last line is left out (not damage: a writer may be in the middle of it);
    `damaged` counts the lines skipped, `end` is the byte offset after the last complete line
    read, so a second pass (`JsonlReader(path, stop=first.end)`) reads the same records even
    while a trainer appends."""

    def __init__(self, path: Path, *, stop: int | None = None, max_line: int = MAX_RECORD_BYTES) -> None:
        self.path = Path(path)
        self.stop = stop
        self.max_line = max_line
        self.damaged = 0
        self.end = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            f = open_read(self.path)
        except FileNotFoundError:
            return
        with f:
            yield from self._records(f)

    def _records(self, f: Any) -> Iterator[dict[str, Any]]:
        # Chunks no longer than a record may be, so only the line a chunk starts inside (the
        # bytes carried over plus the chunk's head) can be too long: that one is measured.
        size = min(_CHUNK, self.max_line)
        left = self.stop
        pending = b""       # the start of a line whose newline has not been read yet
        skipping = False    # inside a line already known to be too long: dropped up to its newline
        offset = 0
        while left is None or left > 0:
            chunk = f.read(size if left is None else min(size, left))
            if not chunk:
                break
            if left is not None:
                left -= len(chunk)
            start = 0
            if skipping:
                newline = chunk.find(b"\n")
                if newline < 0:
                    offset += len(chunk)
                    continue
                skipping, start = False, newline + 1
                self.damaged += 1
            cut = chunk.rfind(b"\n", start) + 1
            if cut:
                first = chunk.find(b"\n", start)
                if len(pending) + first - start > self.max_line:
                    self.damaged += 1
                    body = chunk[first + 1:cut]
                else:
                    body = pending + chunk[start:cut]
                records, damaged = _parse(body)
                self.damaged += damaged
                pending = chunk[cut:]
                self.end = offset + cut
                yield from records
            else:
                pending += chunk[start:]
            offset += len(chunk)
            if len(pending) > self.max_line:
                pending, skipping = b"", True


class JsonlWriter:
    """Append-only JSON-lines file, flushed per record so viewers can tail it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open_append(path)

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
