"""The event log: starts, checkpoints, full validations, pauses, settings, warnings, the end."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from workbench.engine.formats import clock
from workbench.engine.control.narrate import Narrator
from workbench.tui.text import one_line

MAX_LINES = 1000


class EventLog(RichLog):
    """Wrapped lines, written as rich Text (never parsed as markup); every line is cleaned first."""

    BORDER_TITLE = "events"

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, max_lines=MAX_LINES, auto_scroll=True, wrap=True, min_width=20, markup=False,
                         highlight=False)
        self.warnings = 0
        self.errors = 0
        self.plain_lines: list[str] = []  # what was written, for tests and the palette
        self.narrator = Narrator()

    def note(self, message: str, when: float | None = None, severity: str = "info") -> None:
        line = f"{clock(when)} {one_line(message, 500)}"
        self.plain_lines = [*self.plain_lines[-MAX_LINES + 1:], line]
        colour = {"warning": "warning", "error": "error"}.get(severity)
        style = self.app.theme_variables.get(colour, "") if colour else ""
        self.write(Text(line, style=style))
        if severity == "warning":
            self.warnings += 1
        elif severity == "error":
            self.errors += 1
        if self.warnings or self.errors:
            self.border_subtitle = ", ".join(f"{n} {word}{'s' if n != 1 else ''}" for n, word in
                                             ((self.warnings, "warning"), (self.errors, "error")) if n)

    def add_batch(self, events: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> None:
        """Events, plus the full validation passes found in metrics records (the cheap
        estimates only go to the chart), in time order."""
        lines = []
        for event in events:
            lines += [(event.get("time") or 0, line.severity, line.text) for line in self.narrator.event(event)]
        for record in metrics:
            if record.get("val_full"):
                lines += [(record.get("time") or 0, line.severity, line.text)
                          for line in self.narrator.metrics(record) if line.kind == "validation"]
        lines.sort(key=lambda item: item[0] if isinstance(item[0], (int, float)) else 0)
        # Only the last MAX_LINES can be shown anyway; writing a long history line by line
        # would hold up the first frame of an attach. Older lines still count as warnings/errors.
        older, shown = lines[:-MAX_LINES], lines[-MAX_LINES:]
        self.warnings += sum(1 for _, severity, _ in older if severity == "warning")
        self.errors += sum(1 for _, severity, _ in older if severity == "error")
        for when, severity, line in shown:
            self.note(line, when or None, severity)

    def clear_log(self) -> None:
        self.clear()
        self.narrator.forget()
        self.plain_lines = []
        self.warnings = self.errors = 0
        self.border_subtitle = ""
