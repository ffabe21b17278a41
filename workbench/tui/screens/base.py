"""What every screen shares: failed workers are reported in one place (the app's
`report_error`), so an unexpected exception in a thread becomes a notification, not a crash."""
from __future__ import annotations

from textual.screen import Screen
from textual.worker import Worker, WorkerState

from workbench.tui.palette import ScreenActions


class BaseScreen(Screen):
    COMMANDS = {ScreenActions}

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.report_error(event.worker.error, event.worker.description or event.worker.name)  # type: ignore[attr-defined]
