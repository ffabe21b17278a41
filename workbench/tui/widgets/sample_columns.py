"""The studio's samples, side by side: one column per sample of a batch, filled as the text
streams in. Sample text is untrusted: cleaned (`text.clean`) and shown as plain Content.

A long sample is kept as several blocks, cut at line breaks, so that a new piece redraws only
the last block, not the whole text; redraws are coalesced to one per REDRAW_SECONDS.

The prime is part of the sample (as `workbench sample` prints it and a saved file holds it), set
apart: underlined at the start of the text, and named in the column's title, which stays in view
however far the text has scrolled."""
from __future__ import annotations

from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from workbench.tui.text import clean, one_line

BLOCK = 2_000  # characters in the growing block before it is cut at a line break
REDRAW_SECONDS = 0.05
PRIME_STYLE = "bold underline $text-accent"


def column_title(index: int | None, prime: str) -> Content:
    """'sample 2 · prime “The ”' (index None: the only sample), as Content: a border title
    given as a str is read as markup, and the prime is the user's text."""
    name = "sample" if index is None else f"sample {index}"
    return Content(f"{name} \u00b7 prime \u201c{one_line(prime, 24)}\u201d" if prime else name)


class SampleColumn(VerticalScroll):
    """One sample: the prime (highlighted), then the generated text."""

    def __init__(self, index: int, prime: str = "") -> None:
        super().__init__(classes="sample-column")
        self.index = index
        self.border_title = f"sample {index}"
        self.prime = prime
        self.generated = ""
        self._frozen = 0  # characters of `generated` in frozen blocks (plus one line break per cut)
        self._blocks: list[Static] = [Static("", classes="sample-block")]

    def compose(self):
        yield self._blocks[0]

    @property
    def text(self) -> str:
        return self.prime + self.generated

    def start(self, prime: str) -> None:
        self.prime, self.generated, self._frozen = prime, "", 0
        for block in self._blocks[1:]:
            block.remove()
        del self._blocks[1:]
        self.redraw()
        self.scroll_home(animate=False)

    def append(self, piece: str) -> None:
        self.generated += piece

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        tail = self.generated[self._frozen :]
        if len(tail) > BLOCK and "\n" in tail[BLOCK // 2 :]:
            cut = tail.rindex("\n")
            # freeze tail[:cut] in the current block; the next starts after the line break
            self._blocks[-1].update(self._content(tail[:cut]))
            self._frozen += cut + 1
            block = Static("", classes="sample-block")
            self._blocks.append(block)
            self.mount(block)
            tail = self.generated[self._frozen :]
        at_end = self.is_vertical_scroll_end or self.max_scroll_y == 0
        self._blocks[-1].update(self._content(tail))
        if at_end:
            self.call_after_refresh(self.scroll_end, animate=False)

    def _content(self, body: str) -> Content:
        if len(self._blocks) > 1:
            return Content(clean(body))
        return Content.assemble((clean(self.prime), PRIME_STYLE), clean(body))


class SampleColumns(Horizontal):
    """1-4 columns; `start` clears them, `append` adds one piece per column."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._pending = False
        self.columns: list[SampleColumn] = [SampleColumn(1)]
        self.columns[0].border_title = "sample"

    def compose(self):
        yield from self.columns

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.columns]

    @property
    def generated(self) -> int:
        """Characters generated so far (per sample)."""
        return len(self.columns[0].generated)

    def start(self, prime: str, num: int) -> None:
        for column in self.columns[num:]:
            column.remove()
        del self.columns[num:]
        for column in self.columns:
            column.start(prime)
        new = [SampleColumn(i + 1, prime) for i in range(len(self.columns), num)]
        self.columns.extend(new)
        if new:
            self.mount_all(new)
        for column in self.columns:
            column.border_title = column_title(column.index if num > 1 else None, prime)
        self.flush()

    def append(self, pieces: list[str]) -> None:
        for column, piece in zip(self.columns, pieces):
            column.append(piece)
        if not self._pending:
            self._pending = True
            self.set_timer(REDRAW_SECONDS, self.flush)

    def flush(self) -> None:
        """Draw what has arrived (the timer calls it; so does the end of a run)."""
        self._pending = False
        for column in self.columns:
            column.redraw()
