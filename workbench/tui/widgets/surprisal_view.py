"""A passage coloured by how surprising the model found each character (bits = -log2 p).

The colour scale is a few fixed steps of the standard 256-colour palette (no truecolor is
assumed; a 256-colour terminal shows them exactly), as backgrounds, so that a surprising space
or line break shows too. Characters outside the vocabulary are marked in their own colour and
were left out of the scoring."""
from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from workbench.tui.text import clean

# (upper bound in bits, background) from the least surprising up; below 1 bit: no colour
STEPS = [(1.0, None), (2.0, 22), (3.0, 64), (4.0, 136), (6.0, 166), (8.0, 160), (float("inf"), 196)]
UNKNOWN = Style(color="color(231)", bgcolor="color(90)", bold=True, underline=True)
FIRST = Style(dim=True)


def step_of(value: float) -> int:
    for i, (upper, _) in enumerate(STEPS):
        if value < upper:
            return i
    return len(STEPS) - 1


def _style(step: int) -> Style | None:
    bg = STEPS[step][1]
    if bg is None:
        return None
    return Style(color="color(16)" if bg in (136, 166) else "color(231)", bgcolor=f"color({bg})")


STYLES = [_style(i) for i in range(len(STEPS))]


def legend() -> Text:
    text = Text("bits/char: ")
    lower = 0.0
    for i, (upper, _) in enumerate(STEPS):
        label = f"<{upper:g}" if i == 0 else (f"{lower:g}+" if upper == float("inf") else f"{lower:g}-{upper:g}")
        text.append(f" {label} ", STYLES[i] or "")
        lower = upper
    text.append("  ")
    text.append(" unknown ", UNKNOWN)
    return text


def colour_text(text: str, bits: list[float | None], unknown: set[str]) -> Text:
    """`text` with each character styled by its surprisal (None: not scored)."""
    out = Text()
    run: list[str] = []
    run_style: object = 0  # a value no style has

    def flush() -> None:
        if run:
            out.append("".join(run), run_style or None)  # type: ignore[arg-type]
            run.clear()

    for ch, value in zip(text, bits):
        if ch in unknown:
            style: Style | None = UNKNOWN
        elif value is None:
            style = FIRST
        else:
            style = STYLES[step_of(value)]
        shown = ch
        if ch == "\n":
            shown = "\u23ce\n" if style is not None else "\n"  # a coloured line break needs a glyph
        elif ch == " " and style is UNKNOWN:
            shown = "\u2423"
        else:
            shown = clean(ch) or "\ufffd"
        if style is not run_style:
            flush()
            run_style = style
        run.append(shown)
    flush()
    return out


class SurprisalView(VerticalScroll):
    """The coloured passage; `show` replaces it."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.body = Static("", classes="surprisal-body")
        self.text = ""
        self.bits: list[float | None] = []

    def compose(self):
        yield self.body

    def show(self, text: str, bits: list[float | None], unknown: set[str]) -> None:
        self.text, self.bits = text, bits
        self.body.update(colour_text(text, bits, unknown))

    def reset(self) -> None:
        self.text, self.bits = "", []
        self.body.update("")
