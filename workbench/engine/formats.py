"""How numbers of a run are written, the same way in progress lines, tables and the terminal UI:
losses in both units, durations, speeds, counts, times of day, aligned columns.
Pure Python (no torch), so viewers can use it."""
from __future__ import annotations

import math
import re
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


def human_bytes(n: int) -> str:
    """'512 MB', '1.6 GB', '320 TB' (powers of 1000, as disks and `free -h --si` count)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.{0 if n >= 100 * size else 1}f} {unit}"
    return f"{n} bytes"


def threads_text(threads: int) -> str:
    return f"{threads} thread{'s' if threads != 1 else ''}"


def device_now(device: str | None, threads: int | None) -> str | None:
    """The status's device with the thread count the trainer uses now ("cpu (2 threads)" was
    written at its start; the count follows the machine's load under --threads auto)."""
    if not device or not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        return device
    if re.search(r"\(\d+ threads?\)", device):
        return re.sub(r"\(\d+ threads?\)", f"({threads_text(threads)})", device, count=1)
    return f"{device} ({threads_text(threads)})" if device.startswith("cpu") else device


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
