"""What every screen shares: failed workers are reported in one place (the app's
`report_error`), so an unexpected exception in a thread becomes a notification, not a crash;
and `?` lists every key of the screen (the footer shows only those that fit)."""
from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from workbench.tui.modals.keys import KeysModal, screen_keys
from workbench.tui.palette import ScreenActions

# Screens whose fields take typing (the form, the studio, the probe) bind f1 instead: there a
# "?" is typed into the field.
KEYS_BINDING = Binding("question_mark,f1", "keys", "Keys", tooltip="Show every key of this screen", key_display="?",
                       id="screen.keys")
KEYS_BINDING_F1 = Binding("question_mark,f1", "keys", "Keys", tooltip="Show every key of this screen", key_display="f1",
                          id="screen.keys")


class BaseScreen(Screen):
    COMMANDS = {ScreenActions}
    BINDINGS = [KEYS_BINDING]
    KEYS_TITLE = "Keys"
    """The keys dialog's title."""
    ABOUT = ""
    """A few lines on reading the screen, shown under its keys."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.report_error(event.worker.error, event.worker.description or event.worker.name)  # type: ignore[attr-defined]

    def action_keys(self) -> None:
        rows = [row for row in screen_keys(self) if row[0] not in ("?", "f1")]
        self.app.push_screen(KeysModal(self.KEYS_TITLE, rows, self.ABOUT))
