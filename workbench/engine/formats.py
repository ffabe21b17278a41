"""How numbers of a run are written, the same way in progress lines, tables and the terminal UI:
losses in both units, durations, speeds, counts, times of day, aligned columns.
Pure Python (no torch), so viewers can use it."""
from __future__ import annotations

import math
import time
from typing import Sequence

from workbench.engine.units import bits_per_char


def loss_text(nats: float | None, unit: str = "nats") -> str:
    """'1.2345 (1.781 bpc)': both units, the chosen one first; '-' for none or non-finite."""
    if nats is None or not isinstance(nats, (int, float)) or not math.isfinite(nats):
        return "-"
    if unit == "bits":
        return f"{bits_per_char(nats):.3f} bpc ({nats:.4f})"
    return f"{nats:.4f} ({bits_per_char(nats):.3f} bpc)"


def duration(seconds: float | None) -> str:
    """'4:05', '1:02:03', '3d04h'; '-' for none."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h >= 48:
        return f"{h // 24}d{h % 24:02d}h"
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def rate(chars_per_sec: float | None) -> str:
    """'11.1k chars/s' style, short: '950/s', '11.1k/s', '1.20M/s'; '-' for none."""
    if not chars_per_sec:
        return "-"
    if chars_per_sec >= 1e6:
        return f"{chars_per_sec / 1e6:.2f}M/s"
    if chars_per_sec >= 1e3:
        return f"{chars_per_sec / 1e3:.1f}k/s"
    return f"{chars_per_sec:.0f}/s"


def count(n: int | None) -> str:
    """'950', '12k', '3.4M'; '-' for none."""
    if n is None:
        return "-"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return str(n)


def when(timestamp: float | None, seconds: bool = False) -> str:
    """'2026-12-02 14:05' (or with seconds), local time; '-' for none."""
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.localtime(timestamp))


def clock(timestamp: float | None) -> str:
    """'14:05:09', local time."""
    if not timestamp:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def table(rows: Sequence[Sequence[str]], *, align: str = "", rule: bool = False) -> list[str]:
    """Rows as lines of aligned columns two spaces apart. `align` gives each column's 'l' or 'r'
    (left by default); `rule` draws a line under the first row (the header)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.rjust(w) if align[i:i + 1] == "r" else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if rule and index == 0:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    return lines
