"""The home screen: every session in the sessions folder, newest first."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, Static

from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import ACTIVE_STATES, Session, list_sessions
from workbench.tui.messages import SessionsListed
from workbench.tui.modals.confirm import ConfirmModal
from workbench.tui.screens.base import BaseScreen
from workbench.engine.sessions.suggest import first_run
from workbench.tui.shown import on_view
from workbench.tui.text import middle
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.session_table import MARK, SessionTable, fit_columns, row_cells, row_values

REFRESH_SECONDS = 2.0
SCROLLBAR = 2  # cells the table's vertical scrollbar takes when the list is longer than the screen


class HomeScreen(BaseScreen):
    # Most important first: a narrow footer drops the last ones (`?` lists them all).
    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="Open the selected session", id="home.open", priority=True),
        Binding("n", "new", "New", tooltip="New training session", id="home.new"),
        Binding("r", "resume", "Resume", tooltip="Resume training the selected session", id="home.resume"),
        Binding("g", "studio", "Studio", tooltip="Sample studio: generate, probe and score with the selected session",
                id="home.studio"),
        Binding("space", "mark", "Mark", tooltip="Mark or unmark the selected session for comparison", id="home.mark",
                key_display="\u2423"),
        Binding("v", "compare", "Compare", tooltip="Compare the marked sessions: loss curves and settings",
                id="home.compare"),
        Binding("q", "app.quit", "Quit", tooltip="Quit workbench (training sessions go on)", id="home.quit"),
        Binding("delete", "delete", "Delete", tooltip="Delete the selected session (asks first)", id="home.delete"),
        Binding("f5,ctrl+r", "refresh", "Refresh", tooltip="Refresh the session list (it refreshes itself too)",
                id="home.refresh", key_display="f5"),
    ]
    KEYS_TITLE = "Keys of the session list"
    ABOUT = ("Sessions are listed newest first; Best bpc is the best full validation loss in bits per character.\n"
             "home and end go to the first and last session. Mark two or more with space, then v compares them.")

    def __init__(self, sessions_dir: Path) -> None:
        super().__init__()
        self.sessions_dir = Path(sessions_dir)
        self.rows: dict[str, dict[str, Any]] = {}
        self._layout: list[Any] = []  # the columns shown and their widths (fit_columns)
        self._width = 0
        self.loaded = False
        self.marked: set[str] = set()  # sessions marked for comparison
        self._redraw = False  # the marks changed: draw the table again even if the rows did not

    def compose(self) -> ComposeResult:
        yield Static(Content.assemble(("workbench", "bold $text-accent"), "  sessions in ",
                                      (middle(str(self.sessions_dir), 56), "bold")), id="home-title")
        yield SessionTable(id="sessions")
        yield Static(
            Content.assemble("No sessions yet.\n\nPress ", ("n", "bold $text-accent"),
                             " to start one from a form, or run this in a terminal (it needs no network):\n\n",
                             (f"  {first_run(headless=False)}", "bold"),
                             "\n\nAdd --headless for progress lines instead of this screen. ",
                             ("?", "bold $text-accent"), " lists every key."),
            id="empty")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self._refresh_if_shown)

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def on_resize(self, event: events.Resize) -> None:
        if self.loaded and event.size.width != self._width:
            self._redraw = True  # lay the columns out again for the new width
            self.on_sessions_listed(SessionsListed(list(self.rows.values())))

    def _refresh_if_shown(self) -> None:
        # With a session training under the training screen, re-listing here was a full
        # repaint of that screen, chart included, at every tick (see `on_view`).
        if on_view(self):
            self.action_refresh()

    # -- data ---------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.load_sessions()

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False, description="listing sessions")
    def load_sessions(self) -> None:
        self.post_message(SessionsListed(list_sessions(self.sessions_dir)))

    def on_sessions_listed(self, message: SessionsListed) -> None:
        table = self.query_one(DataTable)
        if self.loaded and message.rows == list(self.rows.values()) and not self._redraw:
            return  # nothing changed: keep the table (and its scroll position) as it is
        self._redraw = False
        self.marked &= {r["name"] for r in message.rows}
        values = [row_values(r) for r in message.rows]
        # Fixed column widths, fitted here to the screen's width: DataTable's auto widths can
        # leave lines drawn before its idle-time measurement on screen (a cache it does not
        # clear), and a table wider than the screen hid columns and scrolled the names away.
        self._width = self.size.width or self.app.size.width
        room = self._width - (SCROLLBAR if len(message.rows) > max(1, self.size.height - 3) else 0)
        layout = fit_columns(values, room, {"name": len(MARK)} if self.marked else None)
        mark = [(MARK if r["name"] in self.marked else "  ") if self.marked else None for r in message.rows]
        cells = [row_cells(r, v, layout, m) for r, v, m in zip(message.rows, values, mark)]
        same_rows = [r["name"] for r in message.rows] == list(self.rows)
        if self.loaded and same_rows and layout == self._layout:
            # The usual case, a session training: change its cells, keep the cursor and scroll.
            for r, row in zip(message.rows, cells):
                if r != self.rows[r["name"]]:
                    for (column, _), value in zip(layout, row):
                        table.update_cell(r["name"], column.key, value)
            self.rows = {r["name"]: r for r in message.rows}
            return
        selected = self.selected_name()
        self.rows = {r["name"]: r for r in message.rows}
        self._layout = layout
        table.clear(columns=True)
        for column, width in layout:
            table.add_column(Content(column.label), key=column.key, width=width)
        for r, row in zip(message.rows, cells):
            table.add_row(*row, key=r["name"])
        if selected in self.rows:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        empty = not message.rows
        self.query_one("#empty").display = empty
        table.display = not empty
        self.loaded = True
        self.refresh_bindings()

    def selected_name(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - an empty or changing table
            return None
        return key.value if key is not None else None

    def _selected_session(self) -> Session | None:
        name = self.selected_name()
        if name is None:
            self.notify("No session selected; press n to start one.", severity="warning")
            return None
        return Session(self.sessions_dir / name)

    # -- actions ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open", "resume", "delete", "studio", "mark", "compare"):
            return bool(self.rows)  # hidden while there is no session to act on
        return True

    def action_new(self) -> None:
        from workbench.tui.screens.new_session import NewSessionScreen

        self.app.push_screen(NewSessionScreen(self.sessions_dir))

    def action_open(self) -> None:
        session = self._selected_session()
        if session is not None:
            self.app.open_session(session, start=False)  # type: ignore[attr-defined]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()  # a mouse click on a row

    def action_resume(self) -> None:
        session = self._selected_session()
        if session is None:
            return
        row = self.rows.get(session.name, {})
        if row.get("state") == "broken":
            self.notify(f"Session {session.name} cannot be read: {row.get('error')}", severity="error")
            return
        self.app.open_session(session, start=row.get("state") not in ACTIVE_STATES)  # type: ignore[attr-defined]

    def action_studio(self) -> None:
        session = self._selected_session()
        if session is None:
            return
        if not session.has_checkpoint():
            self.notify(f"Session {session.name} has no checkpoint yet; train it first.", severity="warning")
            return
        self.app.open_studio(session)  # type: ignore[attr-defined]

    def action_mark(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        self.marked ^= {name}
        self._redraw, self._layout = True, []  # a full redraw (it keeps the cursor on the row)
        self.on_sessions_listed(SessionsListed(list(self.rows.values())))

    def action_compare(self) -> None:
        names = [name for name in self.rows if name in self.marked]
        if len(names) < 2:
            self.notify(f"Mark at least two sessions with space to compare them ({len(names)} marked).",
                        severity="warning", timeout=4)
            return
        self.app.open_compare([Session(self.sessions_dir / name) for name in names])  # type: ignore[attr-defined]

    def action_delete(self) -> None:
        session = self._selected_session()
        if session is None:
            return
        holder = session.lock_holder()
        if holder:
            self.notify(f"Session {session.name} is being trained by process {holder.get('pid')}; stop it first.",
                        severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete_session(session)

        self.app.push_screen(ConfirmModal(f"Delete session {session.name}, its history and its checkpoints?\n"
                                          "This cannot be undone.", yes="Delete"), confirmed)

    @work(thread=True, group="delete", exit_on_error=False, description="deleting a session")
    def delete_session(self, session: Session) -> None:
        if session.lock_holder():  # it may have started since the question was asked
            raise WorkbenchError(f"session {session.name} started training; stop it before deleting it")
        shutil.rmtree(session.root)
        self.app.call_from_thread(self.notify, f"Deleted {session.name}.")
        self.app.call_from_thread(self.action_refresh)
