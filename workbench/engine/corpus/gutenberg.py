"""Project Gutenberg's header and licence footer, found and cut away (in a str or in place in
a bytearray), so that a model trains on the book and not on the licence."""
from __future__ import annotations

import re

_WS = frozenset(" \t\r\n") | frozenset(b" \t\r\n")  # items of both str and bytearray


_START_RE = r"^\*{3} ?START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*\n"
_END_RE = r"^\*{3} ?END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK"
_END_LINE_RE = r"^end of (?:the )?project gutenberg"  # "End of the Project Gutenberg EBook of..."
_PATTERNS = {
    kind: {
        str: re.compile(p, re.IGNORECASE | re.MULTILINE),
        bytes: re.compile(p.encode("ascii"), re.IGNORECASE | re.MULTILINE),
    }
    for kind, p in (("start", _START_RE), ("end", _END_RE), ("end_line", _END_LINE_RE))
}


def gutenberg_bounds(data: str | bytearray, notes: list[str]) -> tuple[int, int]:
    """[start, end) of the book inside a Project Gutenberg file: after the "*** START OF ..."
    line and before the "*** END OF ..." line (and the "End of the Project Gutenberg EBook"
    line just above it), keeping one line ending after the last line of text."""
    kind = str if isinstance(data, str) else bytes
    start, end = 0, len(data)
    m = _PATTERNS["start"][kind].search(data)
    if m:
        start = m.end()
        while start < end and data[start] in _WS:  # blank lines under the marker
            start += 1
    m = _PATTERNS["end"][kind].search(data, start)
    if m:
        end = _end_of_text(data, start, m.start())
        line_start = _line_start(data, start, end)
        last_line = data[line_start:end]
        if _PATTERNS["end_line"][kind].match(last_line.strip()):
            end = _end_of_text(data, start, line_start)
        if end > start:  # a book with text ends with one line ending; an empty one stays empty
            end = _keep_one_newline(data, end)
    if start:
        notes.append(f"removed Project Gutenberg header ({start:,} chars)")
    if end < len(data):
        notes.append(f"removed Project Gutenberg licence footer ({len(data) - end:,} chars)")
    return start, end


def _end_of_text(data: str | bytearray, lo: int, hi: int) -> int:
    """Index just past the last non-blank character in data[lo:hi]."""
    while hi > lo and data[hi - 1] in _WS:
        hi -= 1
    return hi


def _line_start(data: str | bytearray, lo: int, pos: int) -> int:
    nl = "\n" if isinstance(data, str) else b"\n"
    return max(data.rfind(nl, lo, pos) + 1, lo)  # type: ignore[arg-type]


def _keep_one_newline(data: str | bytearray, end: int) -> int:
    """Move `end` past the line ending that follows it (LF or CRLF), if any."""
    crlf, lf = ("\r\n", "\n") if isinstance(data, str) else (b"\r\n", b"\n")
    if data[end:end + 2] == crlf:
        return end + 2
    if data[end:end + 1] == lf:
        return end + 1
    return end


def strip_gutenberg_bytes(buf: bytearray, notes: list[str]) -> None:
    start, end = gutenberg_bounds(buf, notes)
    del buf[end:]  # the tail first, so the head's memmove moves less
    del buf[:start]
