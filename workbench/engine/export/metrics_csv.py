"""A session's metrics history as CSV, for a spreadsheet: one row per metrics.jsonl record
(one per logged step), its columns those of the records.

Columns: step, epoch, train_loss, lr, grad_norm, chars_per_sec, time (Unix seconds), val_loss
and val_full (true for a full validation pass, false for the cheap estimate), empty where a
step was not evaluated; then any other key a record holds (a newer version's), in the order
first met. Numbers are written as metrics.jsonl holds them (the shortest text that reads back
as the same float). The history is streamed twice (its columns, then its rows), each pass in
constant memory, so a history of any length exports in a few MB (engine/jsonl.py). Pure Python.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable

from workbench.engine.jsonl import JsonlReader

COLUMNS = ("step", "epoch", "train_loss", "lr", "grad_norm", "chars_per_sec", "time", "val_loss", "val_full")


def columns_of(records: Iterable[dict[str, Any]]) -> list[str]:
    columns = list(COLUMNS)
    known = set(columns)
    for record in records:
        for key in record:
            if key not in known:
                known.add(key)
                columns.append(key)
    return columns


def cell(value: Any) -> str:
    """One value as CSV text: empty when absent, true/false, repr for floats (exact)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class CsvWritten:
    rows: int
    last_step: Any
    """The last row's step (None: no rows)."""
    damaged: int
    """Lines of the history skipped: not a record, or longer than any record can be."""


class _Encoded:
    """What csv.writer writes to: UTF-8 bytes into a binary file."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write(text.encode("utf-8"))


def write_metrics_csv(metrics_path: Path, out: IO[bytes]) -> CsvWritten:
    """The CSV of a metrics.jsonl into `out`, streamed: one pass for the columns, a second for
    the rows, which stops where the first did (a trainer may be appending meanwhile)."""
    first = JsonlReader(metrics_path)
    columns = columns_of(first)
    writer = csv.writer(_Encoded(out), lineterminator="\n")
    writer.writerow(columns)
    rows, last_step = 0, None
    for record in JsonlReader(metrics_path, stop=first.end):
        writer.writerow([cell(record.get(column)) for column in columns])
        rows, last_step = rows + 1, record.get("step")
    return CsvWritten(rows, last_step, first.damaged)
