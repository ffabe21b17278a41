"""Samples drawn during training: the newest on top with its step and settings, older ones
below it (scroll down to read them). Sample text is untrusted: it is cleaned (`text.clean`)
and shown as plain Content, never parsed as markup."""
from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from workbench.engine.formats import clock
from workbench.tui.text import clean, one_line

KEEP = 50  # samples kept on screen; older ones stay in samples.jsonl


def describe(sample: dict[str, Any]) -> str:
    """'step 500 · T 1.0 · top-k 5 · 200 chars · prime "The "'"""
    parts = [f"step {sample.get('step', '?'):,}" if isinstance(sample.get("step"), int) else "step ?"]
    if sample.get("temperature") is not None:
        parts.append(f"T {sample['temperature']:g}")
    if sample.get("top_k"):
        parts.append(f"top-k {sample['top_k']}")
    if isinstance(sample.get("top_p"), (int, float)) and sample["top_p"] < 1:  # 1 keeps every character: off
        parts.append(f"top-p {sample['top_p']:g}")
    if sample.get("length"):
        parts.append(f"{sample['length']} chars")
    if sample.get("prime") is not None:
        parts.append(f"prime \u201c{one_line(sample['prime'], 24)}\u201d")
    if sample.get("time"):
        parts.append(clock(sample["time"]))
    return " \u00b7 ".join(parts)


class SampleView(Static):
    """One sample: a header line and the text."""

    def __init__(self, sample: dict[str, Any], latest: bool) -> None:
        self.sample = sample
        super().__init__(self._content(latest), classes="sample" + (" -latest" if latest else ""))

    def _content(self, latest: bool) -> Content:
        head = ("latest: " if latest else "") + describe(self.sample)
        body = clean(str(self.sample.get("text", ""))).rstrip("\n")
        return Content.assemble((head, "bold $text-accent" if latest else "bold $text-muted"), "\n", body)

    def set_latest(self, latest: bool) -> None:
        self.set_class(latest, "-latest")
        self.update(self._content(latest))


class SamplePanel(VerticalScroll):
    """Newest sample first; `add_samples` keeps at most KEEP on screen."""

    BORDER_TITLE = "samples"

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.drawn = 0
        self._placeholder = Static("No samples yet: one is drawn every --sample-every steps; press s for one now.",
                                   classes="placeholder")

    def compose(self):
        yield self._placeholder

    @property
    def latest(self) -> dict[str, Any] | None:
        views = list(self.query(SampleView))
        return views[0].sample if views else None

    def clear_samples(self) -> None:
        self.drawn = 0
        for view in self.query(SampleView):
            view.remove()
        self._placeholder.display = True

    def add_samples(self, samples: list[dict[str, Any]]) -> None:
        if not samples:
            return
        self.drawn += len(samples)  # all of them, though only the last KEEP are shown
        samples = samples[-KEEP:]
        self._placeholder.display = False
        at_top = self.scroll_y <= 0
        for view in self.query(SampleView):
            if view.has_class("-latest"):
                view.set_latest(False)
        views = [SampleView(s, latest=(i == len(samples) - 1)) for i, s in enumerate(samples)]
        self.mount_all(reversed(views), before=0)
        old = list(self.query(SampleView))[KEEP:]
        for view in old:
            view.remove()
        self.border_subtitle = f"{self.drawn} drawn" if self.drawn > 1 else ""
        if at_top:
            self.scroll_home(animate=False)
