"""One run told as lines of text: the one narrator of the headless progress lines, of
`workbench attach --headless` and of the terminal UI's event log.

It reads plain dicts, so the same lines come from a live event (`Event.to_dict()`) and from
the session's files (an events.jsonl, metrics.jsonl or samples.jsonl record):

    narrator = Narrator()
    for line in narrator.event(event.to_dict()):      # or .metrics(record), .sample(record)
        print(line.text)

A Narrator remembers what it has seen (the step target, the last validation estimate, the best
full validation), so a progress line can say "step 120/500 ... val 2.0450". Pure Python.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from workbench.engine.formats import duration
from workbench.engine.units import bits_per_char


@dataclass(frozen=True)
class Line:
    text: str
    severity: str = "info"
    """info, warning or error."""
    kind: str = ""
    """What it tells: the event's kind, or "steps", "validation", "sample"."""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def nats_text(nats: float) -> str:
    """'2.0450 nats (2.950 bpc)'."""
    return f"{nats:.4f} nats ({bits_per_char(nats):.3f} bpc)"


class Narrator:
    def __init__(self, total_steps: int | None = None) -> None:
        self.total_steps = total_steps
        self.last_val: float | None = None
        self.best: float | None = None

    def forget(self) -> None:
        """The history was rewound (a resume from an earlier checkpoint): start over."""
        self.last_val = self.best = None

    # -- what trainers write ------------------------------------------------------------
    def event(self, data: dict[str, Any]) -> list[Line]:
        """Lines for an event (an events.jsonl record or `Event.to_dict()`)."""
        kind = data.get("kind")
        if kind == "steps":
            epoch = (_number(data.get("epoch")) or 0.0) + (_number(data.get("epoch_progress")) or 0.0)
            return [self._steps({**data, "epoch": epoch})]
        if kind == "evaluated":
            return self._evaluated(data.get("step"), data.get("val_loss"), bool(data.get("full")), data.get("best"))
        if kind == "sample":
            return [self.sample(data)]
        text = _EVENT_TEXTS.get(kind)
        if kind == "started" and isinstance(data.get("total_steps"), int):
            self.total_steps = data["total_steps"]
        if text is None:
            return [Line(f"{kind} at step {data.get('step', '?')}", kind=str(kind))]
        severity = {"warning": "warning", "failed": "error"}.get(str(kind), "info")
        return [Line(text(data), severity, str(kind))]

    def metrics(self, record: dict[str, Any]) -> list[Line]:
        """Lines for a metrics.jsonl record: its log interval and its validation, if any."""
        lines = []
        if _number(record.get("train_loss")) is not None:
            lines.append(self._steps(record))
        if _number(record.get("val_loss")) is not None:
            lines += self._evaluated(record.get("step"), record["val_loss"], bool(record.get("val_full")), None)
        return lines

    def sample(self, record: dict[str, Any]) -> Line:
        """A sample drawn during training, as a block of lines."""
        text = str(record.get("text", "")).replace("\r", "")
        return Line(f"--- sample at step {record.get('step', '?')} ---\n{text}\n---", kind="sample")

    # -- the parts ----------------------------------------------------------------------
    def _steps(self, r: dict[str, Any]) -> Line:
        loss = _number(r.get("train_loss")) or math.nan
        total = f"/{self.total_steps}" if self.total_steps else ""
        val = f"  val {self.last_val:.4f}" if self.last_val is not None else ""
        eta = _number(r.get("eta_seconds"))
        eta_text = f"  ETA {duration(eta)}" if eta is not None else ""
        return Line(f"step {r.get('step', '?')}{total}  epoch {_number(r.get('epoch')) or 0.0:.2f}  "
                    f"loss {loss:.4f} ({bits_per_char(loss):.3f} bpc){val}  "
                    f"lr {_number(r.get('lr')) or 0.0:.2e}  |g| {_number(r.get('grad_norm')) or 0.0:.2f}  "
                    f"{_number(r.get('chars_per_sec')) or 0.0:,.0f} chars/s{eta_text}", kind="steps")

    def _evaluated(self, step: Any, val: Any, full: bool, best: bool | None) -> list[Line]:
        """A full validation pass is told; a cheap estimate only shows in the next progress line."""
        value = _number(val)
        if value is None:
            return []
        self.last_val = value
        if not full:
            return []
        if best is None:  # from the files: best is what beats every full pass seen so far
            best = self.best is None or value < self.best
        if best:
            self.best = value
        return [Line(f"validation at step {step}: {nats_text(value)}{', new best' if best else ''}", kind="validation")]


def _started(e: dict[str, Any]) -> str:
    verb = "resuming" if e.get("resumed") else "started"
    parts = [f"{verb} at step {e.get('step', '?')} on {e.get('device', '?')}"]
    if isinstance(e.get("params"), int):
        parts.append(f"{e['params']:,} parameters")
    if isinstance(e.get("steps_per_epoch"), int):
        parts.append(f"{e['steps_per_epoch']} steps per epoch")
    return ", ".join(parts)


def _setting(e: dict[str, Any]) -> str:
    name, value, step = e.get("name"), e.get("value"), e.get("step", "?")
    if name == "lr" and _number(value) is not None:
        return f"learning rate set to {value:.3g} at step {step}"
    if isinstance(value, dict):
        return f"{name} settings set to {', '.join(f'{k}={v!r}' for k, v in value.items())} at step {step}"
    return f"{name} set to {value} at step {step}"


def _finished(e: dict[str, Any]) -> str:
    best = _number(e.get("best_val_loss"))
    tail = f", best validation {nats_text(best)}" if best is not None else ""
    return f"{e.get('state', 'finished')} at step {e.get('step', '?')} ({e.get('reason', '')}){tail}"


_EVENT_TEXTS = {
    "started": _started,
    "checkpoint": lambda e: (f"checkpoint saved at step {e.get('step', '?')} ({e.get('reason', '')})"
                             + (", new best" if e.get("best") else "")),
    "paused": lambda e: f"paused at step {e.get('step', '?')}",
    "resumed": lambda e: f"resumed at step {e.get('step', '?')}",
    "setting": _setting,
    "warning": lambda e: f"warning: {e.get('message', '')}",
    "finished": _finished,
    "failed": lambda e: f"failed at step {e.get('step', '?')}: {e.get('error', '')}",
}
