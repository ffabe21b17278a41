"""The workbench app: composes the screens, routes between them and reports errors.

It never trains and never imports torch; trainers are processes of their own (see
workbench/tui/__init__.py), so closing the app never stops one unless asked to.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from platformdirs import user_downloads_path
from rich.text import Text
from textual import events
from textual.app import App
from textual.binding import Binding

from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import Session
from workbench.engine.export.user_files import output_target
from workbench.tui.palette import ScreenActions
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.training import TrainingScreen
from workbench.tui.text import one_line


class WorkbenchApp(App):
    CSS_PATH = Path(__file__).with_name("workbench.tcss")  # absolute: subclasses (tests) live elsewhere
    TITLE = "workbench"
    COMMANDS = App.COMMANDS | {ScreenActions}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit")]

    def __init__(self, sessions_dir: Path, *, session: str | None = None, start: bool = False,
                 steps: int | None = None, epochs: float | None = None, minutes: float | None = None,
                 studio: str | None = None, checkpoint: str = "latest", device: str = "cpu",
                 precision: str = "auto", quantize: str | None = None) -> None:
        super().__init__()
        self.studio = {"name": studio, "checkpoint": checkpoint, "device": device, "precision": precision,
                       "quantize": quantize}
        self.sessions_dir = Path(sessions_dir)
        self.initial = session
        self.initial_start = start
        self.budget = {"steps": steps, "epochs": epochs, "minutes": minutes}

    def on_mount(self) -> None:
        self.push_screen(HomeScreen(self.sessions_dir))
        if self.initial:
            self.open_session(Session(self.sessions_dir / self.initial), start=self.initial_start, detach_quits=True,
                              **self.budget)
        if self.studio["name"]:
            self.open_studio(Session(self.sessions_dir / self.studio["name"]), checkpoint=self.studio["checkpoint"])

    # -- routing ------------------------------------------------------------------------
    def open_session(self, session: Session, *, start: bool = False, detach_quits: bool = False, **budget) -> None:
        """The training screen on top of the home screen (Escape goes back to it; so does `d`,
        unless the app was started on this session: then `d` leaves the app)."""
        self.show_home()
        self.push_screen(TrainingScreen(session, self.sessions_dir, start=start, detach_quits=detach_quits, **budget))

    def start_session(self, session: Session) -> None:
        """A session just created by the form: train it."""
        self.open_session(session, start=True)

    def open_studio(self, session: Session, *, checkpoint: str = "latest") -> None:
        """The sample studio on top of the current screen (Escape goes back to it)."""
        from workbench.tui.screens.studio import StudioScreen

        self.push_screen(StudioScreen(session, checkpoint=checkpoint, device=self.studio["device"],
                                      precision=self.studio["precision"], quantize=self.studio["quantize"]))

    def open_compare(self, sessions: list[Session]) -> None:
        """Runs compared: loss curves overlaid, settings side by side."""
        from workbench.tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(sessions))

    def show_home(self) -> None:
        while len(self.screen_stack) > 2:  # the default screen, then home
            self.pop_screen()

    # -- errors in one place --------------------------------------------------------------
    def report_error(self, error: BaseException, doing: str = "") -> None:
        if isinstance(error, WorkbenchError):
            message = str(error)
        else:
            message = f"{type(error).__name__}: {error}"
            self.log.error(f"{doing}: {message}")
        title = f"Error while {doing}" if doing else "Error"
        self.notify(one_line(message, 400), title=title, severity="error", timeout=10, markup=False)

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        # Notifications carry session names, paths and messages from files: never markup
        # (a corpus called "[red]mark.txt" is shown as it is called).
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def exit(self, result=None, return_code: int = 0, message=None) -> None:
        # The line printed as the app leaves names a session and maybe a path: never markup.
        super().exit(result, return_code, Text(message) if isinstance(message, str) else message)

    # -- screenshots (the palette's "Screenshot") -------------------------------------------
    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        if self.is_web:  # a download in the browser: nothing is written here
            return super().deliver_screenshot(filename, path, time_format)
        # In a terminal, written here by the rules for paths a user names (engine/export/user_files.py),
        # under a name nothing holds yet: Textual's own save would write through whatever is there.
        folder = Path(path) if path else screenshot_folder()
        name = filename or f"{self.title}_{datetime.now().strftime(time_format or '%Y-%m-%dT%H_%M_%S')}.svg"
        target = folder / name
        for n in range(2, 1000):
            if not os.path.lexists(target):
                break
            target = folder / f"{Path(name).stem}-{n}.svg"
        try:
            output_target(str(target), "the screenshot", dash=False).write_text(self.export_screenshot())
        except WorkbenchError as exc:
            self.notify(f"Could not save the screenshot: {exc}", title="Screenshot", severity="error", markup=False)
            return None
        self.notify(f"Saved the screenshot to {target}", title="Screenshot", timeout=8, markup=False)
        return None

    def on_delivery_complete(self, event: events.DeliveryComplete) -> None:
        if event.name == "screenshot":
            event.prevent_default()  # Textual's own note reads the path as markup
            where = f" to {event.path}" if event.path is not None else ""
            self.notify(f"Saved the screenshot{where}", title="Screenshot", timeout=8)

    def on_delivery_failed(self, event: events.DeliveryFailed) -> None:
        if event.name == "screenshot":
            event.prevent_default()
            self.notify(f"Could not save the screenshot: {event.exception}", title="Screenshot", severity="error")


def screenshot_folder() -> Path:
    """Where a screenshot goes: the Downloads folder when there is one, else the current folder
    when it can be written, else a Downloads folder made for it. Textual's default is Downloads
    only, which fails where it does not exist (a server, a container)."""
    downloads = Path(user_downloads_path())
    if downloads.is_dir():
        return downloads
    here = Path.cwd()
    if os.access(here, os.W_OK):
        return here
    downloads.mkdir(parents=True, exist_ok=True)
    return downloads


def run_app(sessions_dir: Path, *, session: str | None = None, start: bool = False, steps: int | None = None,
            epochs: float | None = None, minutes: float | None = None, studio: str | None = None,
            checkpoint: str = "latest", device: str = "cpu", precision: str = "auto",
            quantize: str | None = None) -> int:
    app = WorkbenchApp(sessions_dir, session=session, start=start, steps=steps, epochs=epochs, minutes=minutes,
                       studio=studio, checkpoint=checkpoint, device=device, precision=precision, quantize=quantize)
    app.run()
    return app.return_code or 0
