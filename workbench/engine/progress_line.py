"""One line of progress on a terminal, redrawn in place with carriage returns at most ten times
a second: `downloading anna.txt [#######.........]  45%  0.9/2.0 MB` while a corpus downloads,
`scoring big.txt [##......]  12%  6.0/50.0 MB  141k chars/s` while a text is scored."""
from __future__ import annotations

import time
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


class ProgressLine:
    """`verb label [bar] pct done/total MB extra`, to `stream` (None: silent)."""

    def __init__(self, verb: str, label: str, stream: TextIO | None) -> None:
        self.verb, self.label, self.stream = verb, label, stream
        self.last_draw = 0.0
        self.drawn = False
        self.width = 0

    def update(self, done: int, total: int | None, extra: str = "") -> None:
        now = time.monotonic()
        if self.stream is None or now - self.last_draw < REDRAW_SECONDS:
            return
        self.last_draw = now
        self._draw(done, total, extra)

    def finish(self, done: int, total: int | None, extra: str = "") -> None:
        """The last drawing, complete, and the end of the line."""
        if self.stream is None:
            return
        self._draw(done, total if total is not None else done, extra)
        self.stream.write("\n")
        self.stream.flush()

    def abort(self) -> None:
        """End a half-drawn line, so that the error message that follows starts on its own."""
        if self.stream is not None and self.drawn:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, done: int, total: int | None, extra: str) -> None:
        assert self.stream is not None
        mb = done / 1e6
        if total:
            frac = min(done / total, 1.0)
            filled = int(frac * BAR_WIDTH)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            text = f"{self.verb} {self.label} [{bar}] {frac:4.0%}  {mb:.1f}/{total / 1e6:.1f} MB"
        else:
            text = f"{self.verb} {self.label}  {mb:.1f} MB"
        text += f"  {extra}" if extra else ""
        # spaces over what a longer line before left (no escape codes: the stream may be a file)
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)
        self.drawn = True
