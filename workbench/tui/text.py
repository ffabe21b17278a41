"""Pure helpers for the UI: making untrusted text safe to show, and the states in words.
(Numbers are written by engine/formats.py, the same way as on the command line.)

Samples come from a model trained on arbitrary text, so they may hold anything: carriage
returns, escape sequences, bidi overrides, Rich markup. Nothing from a session file reaches the
screen without `clean()`; widgets then show it as `rich.text.Text` or `Content` (never parsed
as markup).
"""
from __future__ import annotations


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


def one_line(text: str, limit: int = 200) -> str:
    """`clean()` on one line: newlines shown as '⏎', cut to `limit` characters."""
    flat = clean(text).replace("\n", "\u23ce")
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def middle(text: str, limit: int) -> str:
    """`one_line()`, shortened in the middle to `limit` characters: both ends of a long name or
    path stay readable ('tinyshakespeare-…-1405', '/home/…/anna.txt'; a path keeps more of its
    end, where the file's name is)."""
    flat = one_line(text, max(len(text), 1) * 4 + 8)
    if len(flat) <= limit:
        return flat
    if limit < 3:
        return flat[:limit]
    head = (limit - 1) // (3 if "/" in flat else 2)
    tail = limit - 1 - head
    return flat[:head] + "\u2026" + flat[len(flat) - tail:]


def chars_per_sec(value: float | None) -> str:
    """'11.1k chars/s', '950 chars/s', '1.20M chars/s'; '- chars/s' for none."""
    if not value or value != value:
        return "- chars/s"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M chars/s"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k chars/s"
    return f"{value:.0f} chars/s"


STATE_WORDS = {
    "created": "CREATED",
    "starting": "STARTING",
    "running": "RUNNING",
    "paused": "PAUSED",
    "stopping": "STOPPING",
    "suspended": "STOPPED BY A SIGNAL",
    "stopped": "STOPPED",
    "finished": "FINISHED",
    "failed": "FAILED",
    "broken": "BROKEN",
}


def state_word(state: str | None) -> str:
    return STATE_WORDS.get(state or "created", str(state).upper())
