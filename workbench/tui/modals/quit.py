"""Leaving while a trainer runs: stop it (with a checkpoint), leave it running, or stay."""
from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

QuitChoice = Literal["stop", "keep"]


class QuitModal(ModalScreen["QuitChoice | None"]):
    """Dismisses with "stop", "keep" or None (cancel)."""

    BINDINGS = [
        Binding("s", "choose('stop')", "Stop and save", id="quit.stop"),
        Binding("k", "choose('keep')", "Keep training", id="quit.keep"),
        Binding("escape,c", "choose(None)", "Cancel", id="quit.cancel"),
    ]

    def __init__(self, session_name: str) -> None:
        super().__init__()
        self.session_name = session_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Session {self.session_name} is still training. Quit how?", classes="question", markup=False)
            with Vertical(classes="buttons stacked"):
                yield Button("Stop and save (s)", variant="warning", id="stop", compact=True)
                yield Button("Keep training in the background (k)", variant="primary", id="keep", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
