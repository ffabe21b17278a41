"""The event log: starts, checkpoints, full validations, pauses, settings, warnings, the end."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from workbench.tui.text import clock, loss_text, one_line

MAX_LINES = 1000


def describe_event(event: dict[str, Any]) -> tuple[str, str]:
    """(severity, one line) for an events.jsonl record; severity is info, warning or error."""
    kind = event.get("kind")
    step = event.get("step", "?")
    if kind == "started":
        verb = "resumed" if event.get("resumed") else "started"
        params = event.get("params")
        return "info", (f"{verb} at step {step} on {event.get('device', '?')}"
                        + (f", {params:,} parameters" if isinstance(params, int) else ""))
    if kind == "checkpoint":
        best = ", new best" if event.get("best") else ""
        return "info", f"checkpoint at step {step} ({event.get('reason', '')}){best}"
    if kind == "paused":
        return "info", f"paused at step {step}"
    if kind == "resumed":
        return "info", f"resumed at step {step}"
    if kind == "setting":
        name, value = event.get("name"), event.get("value")
        if name == "lr" and isinstance(value, (int, float)):
            return "info", f"learning rate set to {value:.3g} at step {step}"
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v!r}" for k, v in value.items())
        return "info", f"{name} set to {value} at step {step}"
    if kind == "warning":
        return "warning", f"warning: {event.get('message', '')}"
    if kind == "finished":
        best = event.get("best_val_loss")
        tail = f", best validation {loss_text(best)}" if best is not None else ""
        return "info", f"{event.get('state', 'finished')} at step {step} ({event.get('reason', '')}){tail}"
    if kind == "failed":
        return "error", f"failed at step {step}: {event.get('error', '')}"
    return "info", f"{kind} at step {step}"


class EventLog(RichLog):
    """Wrapped lines, written as rich Text (never parsed as markup); every line is cleaned first."""

    BORDER_TITLE = "events"

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, max_lines=MAX_LINES, auto_scroll=True, wrap=True, min_width=20, markup=False,
                         highlight=False)
        self.warnings = 0
        self.errors = 0
        self.plain_lines: list[str] = []  # what was written, for tests and the palette

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
            severity, line = describe_event(event)
            lines.append((event.get("time") or 0, severity, line))
        for record in metrics:
            if record.get("val_full") and isinstance(record.get("val_loss"), (int, float)):
                lines.append((record.get("time") or 0, "info",
                              f"validation at step {record.get('step')}: {loss_text(record['val_loss'])}"))
        lines.sort(key=lambda item: item[0])
        # Only the last MAX_LINES can be shown anyway; writing a long history line by line
        # would hold up the first frame of an attach. Older lines still count as warnings/errors.
        older, shown = lines[:-MAX_LINES], lines[-MAX_LINES:]
        self.warnings += sum(1 for _, severity, _ in older if severity == "warning")
        self.errors += sum(1 for _, severity, _ in older if severity == "error")
        for when, severity, line in shown:
            self.note(line, when or None, severity)

    def clear_log(self) -> None:
        self.clear()
        self.plain_lines = []
        self.warnings = self.errors = 0
        self.border_subtitle = ""
