"""Pure helpers for the UI: making untrusted text safe to show, and formatting numbers.

Samples come from a model trained on arbitrary text, so they may hold anything: carriage
returns, escape sequences, bidi overrides, Rich markup. Nothing from a session file reaches the
screen without `clean()`; widgets then show it as `rich.text.Text` (never parsed as markup),
and `clean_markup()` exists for the few places that build markup strings.
"""
from __future__ import annotations

import math
import time

from rich.markup import escape

from workbench.engine.units import LN2

# Characters that move the cursor or change how the rest of a line is drawn. Everything in
# Unicode category Cc except newline, plus the invisible direction overrides (they reorder text
# after them, the "Trojan Source" problem) and the zero-width no-break space.
_BIDI = {0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF}


def _visible(code: int) -> str:
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: ESC -> '␛'
    if code == 0x7F:
        return "\u2421"  # '␡'
    return "\ufffd"  # C1 controls and direction overrides


_TABLE = {c: _visible(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI]}
_TABLE[ord("\n")] = "\n"
_TABLE[ord("\t")] = "    "


def clean(text: str) -> str:
    """Text that cannot break a terminal: line endings become '\\n', tabs four spaces, other
    control characters their visible Unicode pictures ('\\x1b' -> '␛')."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(_TABLE)


def clean_markup(text: str) -> str:
    """`clean()`, then escaped for use inside a Rich markup string."""
    return escape(clean(text))


def one_line(text: str, limit: int = 200) -> str:
    """`clean()` on one line: newlines shown as '⏎', cut to `limit` characters."""
    flat = clean(text).replace("\n", "\u23ce")
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def bits(nats: float) -> float:
    return nats / LN2


def loss_text(nats: float | None, unit: str = "nats") -> str:
    """'1.2345 (1.781 bpc)' style: both units, the chosen one first."""
    if nats is None or not isinstance(nats, (int, float)) or not math.isfinite(nats):
        return "-"
    if unit == "bits":
        return f"{bits(nats):.3f} bpc ({nats:.4f})"
    return f"{nats:.4f} ({bits(nats):.3f} bpc)"


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h >= 48:
        return f"{h // 24}d{h % 24:02d}h"
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def rate(chars_per_sec: float | None) -> str:
    if not chars_per_sec:
        return "-"
    if chars_per_sec >= 1e6:
        return f"{chars_per_sec / 1e6:.2f}M/s"
    if chars_per_sec >= 1e3:
        return f"{chars_per_sec / 1e3:.1f}k/s"
    return f"{chars_per_sec:.0f}/s"


def count(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return str(n)


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def clock(timestamp: float | None) -> str:
    if not timestamp:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


STATE_WORDS = {
    "created": "CREATED",
    "starting": "STARTING",
    "running": "RUNNING",
    "paused": "PAUSED",
    "stopping": "STOPPING",
    "stopped": "STOPPED",
    "finished": "FINISHED",
    "failed": "FAILED",
    "broken": "BROKEN",
}
ACTIVE = ("running", "paused")


def state_word(state: str | None) -> str:
    return STATE_WORDS.get(state or "created", str(state).upper())
