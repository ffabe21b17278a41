"""A session's metrics history as CSV, for a spreadsheet: one row per metrics.jsonl record
(one per logged step), its columns those of the records.

Columns: step, epoch, train_loss, lr, grad_norm, chars_per_sec, time (Unix seconds), val_loss
and val_full (true for a full validation pass, false for the cheap estimate), empty where a
step was not evaluated; then any other key a record holds (a newer version's), in the order
first met. Numbers are written as metrics.jsonl holds them (the shortest text that reads back
as the same float). Pure Python.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

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


def metrics_csv(records: list[dict[str, Any]]) -> str:
    """The whole CSV text (a header line, then one line per record)."""
    out = io.StringIO()
    columns = columns_of(records)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([cell(record.get(column)) for column in columns])
    return out.getvalue()
