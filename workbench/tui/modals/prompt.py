"""Small forms in a dialog: a new learning rate, new sample settings. Each field is checked
as it is typed, with the engine's own messages; Enter applies, Escape cancels."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Function, ValidationResult, Validator
from textual.widgets import Button, Input, Label, Static

from workbench.engine.config import SampleSettings
from workbench.engine.errors import WorkbenchError


class EngineCheck(Validator):
    """Parse the text with `parse`, then run `check(value)`; a WorkbenchError or ValueError
    becomes the failure, with its message."""

    def __init__(self, parse: Callable[[str], Any], check: Callable[[Any], None] | None = None,
                 what: str = "a number") -> None:
        super().__init__()
        self.parse, self.check, self.what = parse, check, what

    def validate(self, value: str) -> ValidationResult:
        try:
            parsed = self.parse(value.strip())
        except (ValueError, TypeError):
            return self.failure(f"not {self.what}: {value.strip()!r}")
        if self.check is not None:
            try:
                self.check(parsed)
            except (WorkbenchError, ValueError) as exc:
                return self.failure(str(exc))
        return self.success()


def _optional_float(text: str) -> float | None:
    return float(text) if text else None


def check_lr(lr: float) -> None:
    if not (math.isfinite(lr) and lr > 0):
        raise WorkbenchError(f"the learning rate must be a positive number, got {lr}")


class FormModal(ModalScreen[Any]):
    """Shared by the two dialogs: labelled inputs with an error line under each."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]
    TITLE_TEXT = ""

    def fields(self) -> list[tuple[str, str, Input]]:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.TITLE_TEXT, classes="question", markup=False)
            for key, label, field_input in self.fields():
                yield Label(label, classes="field-label")
                yield field_input
                yield Static("", id=f"{key}-error", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Apply (enter)", variant="primary", id="apply", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show(event.input, event.validation_result)

    def _show(self, field_input: Input, result: ValidationResult | None) -> None:
        error = self.query_one(f"#{field_input.id}-error", Static)
        message = "" if result is None or result.is_valid else "; ".join(result.failure_descriptions)
        error.update(message)
        error.display = bool(message)

    def _all_valid(self) -> bool:
        ok = True
        for field_input in self.query(Input):
            result = field_input.validate(field_input.value)
            self._show(field_input, result)
            ok = ok and (result is None or result.is_valid)
        return ok

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_apply(self) -> None:
        raise NotImplementedError


class LearningRateModal(FormModal):
    """Dismisses with the new learning rate (a float) or None."""

    TITLE_TEXT = "New learning rate (applies from the next step; the schedule scales from it)"

    def __init__(self, current: float | None) -> None:
        super().__init__()
        self.current = current

    def fields(self) -> list[tuple[str, str, Input]]:
        value = f"{self.current:.6g}" if self.current else ""
        return [("lr", "learning rate", Input(value, id="lr", compact=True, validators=[EngineCheck(float, check_lr)]))]

    def action_apply(self) -> None:
        if self._all_valid():
            self.dismiss(float(self.query_one("#lr", Input).value.strip()))


class SampleSettingsModal(FormModal):
    """Dismisses with a dict of SetSampleSettings fields (only the changed ones) or None."""

    TITLE_TEXT = "Sample settings (used by the next sample; s draws one now)"

    def __init__(self, current: SampleSettings) -> None:
        super().__init__()
        self.current = current

    def _check(self, **change: Any) -> None:
        replace(self.current, **change).validate()

    def fields(self) -> list[tuple[str, str, Input]]:
        c = self.current
        return [
            ("temperature", "temperature (above 0; lower is more conservative)",
             Input(f"{c.temperature:g}", id="temperature", compact=True,
                   validators=[EngineCheck(float, lambda v: self._check(temperature=v))])),
            ("top_k", "top-k (0 for all characters)",
             Input(str(c.top_k or 0), id="top_k", compact=True,
                   validators=[EngineCheck(int, lambda v: self._check(top_k=v), "a whole number")])),
            ("top_p", "top-p (nucleus, in (0, 1]; blank or 1 for off)",
             Input(f"{c.top_p:g}" if c.top_p is not None and c.top_p < 1 else "", id="top_p", compact=True,
                   placeholder="off", validators=[EngineCheck(_optional_float, lambda v: self._check(top_p=v))])),
            ("length", "length (characters to generate)",
             Input(str(c.length), id="length", compact=True,
                   validators=[EngineCheck(int, lambda v: self._check(length=v), "a whole number")])),
            ("prime", "prime (text the sample starts from)",
             Input(c.prime, id="prime", compact=True, validators=[Function(bool, "the prime needs at least one character")])),
        ]

    def action_apply(self) -> None:
        if not self._all_valid():
            return
        values = {i.id: i.value for i in self.query(Input)}
        top_p = _optional_float(values["top_p"].strip())
        new = {
            "temperature": float(values["temperature"]),
            "top_k": int(values["top_k"]),
            # Off is 1.0 on the wire: a command's None means "unchanged" (and p = 1 keeps every character).
            "top_p": 1.0 if top_p is None else top_p,
            "length": int(values["length"]),
            "prime": values["prime"],
        }
        old = {"temperature": self.current.temperature, "top_k": self.current.top_k or 0,
               "top_p": 1.0 if self.current.top_p is None else self.current.top_p,
               "length": self.current.length, "prime": self.current.prime}
        self.dismiss({k: v for k, v in new.items() if v != old[k]})


class BudgetModal(FormModal):
    """Dismisses with a new step target (an int above the current step) or None."""

    TITLE_TEXT = "This session has spent its budget. Train on until which step (total)?"

    def __init__(self, step: int, suggestion: int) -> None:
        super().__init__()
        self.step, self.suggestion = step, suggestion

    def _check(self, target: int) -> None:
        if target <= self.step:
            raise WorkbenchError(f"the target must be above the current step, {self.step:,}")

    def fields(self) -> list[tuple[str, str, Input]]:
        return [("steps", f"train until step (now at {self.step:,})",
                 Input(str(self.suggestion), id="steps", compact=True,
                       validators=[EngineCheck(int, self._check, "a whole number")]))]

    def action_apply(self) -> None:
        if self._all_valid():
            self.dismiss(int(self.query_one("#steps", Input).value.strip()))
