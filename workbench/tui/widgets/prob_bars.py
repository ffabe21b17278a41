"""The next-character distribution as horizontal bars, one selectable row per character (the
20 most likely): enter on a row appends that character to the prime. Rows inside the
sampler's current top-k / top-p cut are marked."""
from __future__ import annotations

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from workbench.tui.text import one_line

TOP = 20
EIGHTHS = " \u258f\u258e\u258d\u258c\u258b\u258a\u2589"  # partial blocks, 0/8 .. 7/8
NAMES = {" ": "\u2423", "\n": "\u23ce", "\t": "\u21e5", "\r": "\u240d"}  # ␣ ⏎ ⇥ ␍


def char_label(ch: str) -> str:
    """A character made visible: space, newline and tab as symbols, controls as pictures."""
    return NAMES.get(ch) or one_line(ch, 4)


def bar(fraction: float, width: int) -> str:
    eighths = max(0, round(fraction * width * 8))
    full, part = divmod(min(eighths, width * 8), 8)
    return ("\u2588" * full + (EIGHTHS[part] if part else "")).ljust(width)


class ProbBars(OptionList):
    """`show(probs, kept)`: probs sorted from the most likely down, as (char, p); the first
    `kept` of them can be drawn with the current sampling settings."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.probs: list[tuple[str, float]] = []
        self.kept = 0
        self._width = 0

    def show(self, probs: list[tuple[str, float]], kept: int) -> None:
        self.probs, self.kept = probs[:TOP], kept
        self._rebuild()

    def set_kept(self, kept: int) -> None:
        if kept != self.kept:
            self.kept = kept
            self._rebuild()

    def char_at(self, index: int) -> str:
        return self.probs[index][0]

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._rebuild()

    def _rebuild(self) -> None:
        self._width = self.size.width
        highlighted = self.highlighted
        width = max(6, self.size.width - 20)
        top = self.probs[0][1] if self.probs else 1.0
        options = []
        for i, (ch, p) in enumerate(self.probs):
            inside = i < self.kept
            options.append(Option(Content.assemble(
                ("\u25cf " if inside else "  ", "bold $text-success"),
                (f"{char_label(ch):>3} ", "bold" if inside else "$text-muted"),
                (bar(p / top if top > 0 else 0.0, width), "$text-success" if inside else "$text-muted"),
                f" {p * 100:6.2f}%",
            )))
        self.set_options(options)
        if options:
            self.highlighted = min(highlighted or 0, len(options) - 1)
