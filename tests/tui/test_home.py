"""The home screen: the list, deleting (asked first), resuming a spent session (asks for a new
target), the palette, and sizes down to tiny ones."""
from __future__ import annotations

import subprocess
import sys

from textual.command import CommandPalette
from textual.widgets import DataTable
from tui_support import aio, finished_session, wait_for

from workbench.tui.app import WorkbenchApp
from workbench.tui.modals.confirm import ConfirmModal
from workbench.tui.modals.prompt import BudgetModal
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.new_session import NewSessionScreen
from workbench.tui.screens.training import TrainingScreen
from workbench.tui.widgets.status_bar import StatusBar


@aio
async def test_delete_asks_first(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    session = finished_session(sessions, corpus)
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
        home = app.screen
        assert home.query_one(DataTable).row_count == 1
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is home, what="home again")
        assert session.root.exists()
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: not session.root.exists() and not home.rows, what="the deletion")
        await wait_for(pilot, lambda: home.query_one("#empty").display, what="the empty message")


@aio
async def test_resuming_a_spent_session_asks_for_a_new_target(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    finished_session(sessions, corpus)
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, BudgetModal), what="the budget question")
        await pilot.press("escape")  # nothing starts
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
        assert app.screen.query_one(StatusBar).state == "finished" and not app.screen.start


@aio
async def test_every_screen_action_is_in_the_palette(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    finished_session(sessions, corpus)
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*"new sess", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), what="the form, from the palette")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")


@aio
async def test_tiny_and_odd_sizes_never_crash(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    finished_session(sessions, corpus)
    app = WorkbenchApp(sessions, session="anna-fixed")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.loaded, what="history")
        for size in [(1, 1), (10, 3), (20, 5), (40, 10), (60, 15), (200, 60), (80, 24)]:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.05)
            await pilot.press("u", "m", "e")
            await pilot.pause(0.05)
        await pilot.press("escape")
        for size in [(1, 1), (12, 4), (80, 24)]:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.05)
        assert app.is_running


def test_the_app_does_not_import_torch():
    code = ("import sys\nimport workbench.tui.app, workbench.cli\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@aio
async def test_the_list_refreshes_itself_only_while_it_is_shown(tmp_path, corpus, monkeypatch):
    """A hidden home screen that kept re-listing would repaint the screen on top of it (the
    training screen, chart included) at every change: that is CPU taken from training."""
    monkeypatch.setattr("workbench.tui.screens.home.REFRESH_SECONDS", 0.05)
    sessions = tmp_path / "sessions"
    finished_session(sessions, corpus)
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
        home = app.screen
        listed = []
        monkeypatch.setattr(home, "load_sessions", lambda: listed.append(app.screen))
        await wait_for(pilot, lambda: len(listed) >= 2, what="the periodic refresh")
        await pilot.press("enter")  # open the session: the training screen covers the list
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
        listed.clear()
        await pilot.pause(0.5)  # ten refresh periods
        assert listed == []
        app.pop_screen()
        await wait_for(pilot, lambda: len(listed) >= 2, what="refreshing again once shown")


@aio
async def test_the_training_screen_redraws_only_while_it_can_be_seen(tmp_path, corpus):
    """Covered by the studio it stays still; under a dialog, or shown again, it catches up."""
    from workbench.tui.modals.confirm import ConfirmModal as Dialog
    from workbench.tui.widgets.loss_chart import LossChart

    sessions = tmp_path / "sessions"
    finished_session(sessions, corpus)
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
        training = app.screen
        chart = training.query_one(LossChart)
        await wait_for(pilot, lambda: chart.points > 0 and not chart._dirty, what="the history drawn")
        opaque = HomeScreen(sessions)  # any full screen on top
        await app.push_screen(opaque)
        chart.add_records([{"step": 10_000, "train_loss": 1.0}])
        chart.redraw_if_dirty()
        assert chart._dirty  # not drawn while covered
        app.pop_screen()
        await wait_for(pilot, lambda: not chart._dirty, what="the redraw once shown")
        await app.push_screen(Dialog("a question?"))
        await wait_for(pilot, lambda: isinstance(app.screen, Dialog), what="the dialog")
        chart.add_records([{"step": 10_001, "train_loss": 1.0}])
        chart.redraw_if_dirty()
        assert not chart._dirty  # a dialog leaves the chart in view
