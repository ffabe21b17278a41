"""A trainer that cannot start (its corpus was deleted after the session was made): the
training screen says why, and the app keeps running."""
from __future__ import annotations

from support import make_session
from tui_support import aio, stop_trainer_of, wait_for

from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.training import TrainingScreen
from workbench.tui.widgets.event_log import EventLog
from workbench.tui.widgets.status_bar import StatusBar


@aio
async def test_a_trainer_that_fails_to_start_is_reported_and_the_app_survives(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    session = make_session(sessions, corpus, name="doomed")
    corpus.unlink()
    app = WorkbenchApp(sessions, session="doomed", start=True)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
            screen = app.screen
            bar = screen.query_one(StatusBar)
            await wait_for(pilot, lambda: bar.launch_error is not None, 30, "the launch error")
            assert bar.state == "failed"
            assert "small.txt" in bar.launch_error  # the trainer's own reason names the file
            assert any("small.txt" in line for line in screen.query_one(EventLog).plain_lines)
            assert app.is_running
            # Still usable: back to the list, where the session is still there.
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and "doomed" in app.screen.rows,
                           what="the session list")
    finally:
        stop_trainer_of(session)
