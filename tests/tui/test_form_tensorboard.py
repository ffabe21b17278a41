"""The new-session form's TensorBoard folder: blank is none; a folder goes into the session's
config, so its trainer (a background process) writes TensorBoard logs as it trains; a file
given as the folder is flagged on the field and nothing starts."""
from __future__ import annotations

from textual.widgets import Input, Select, Static
from tui_support import TINY_FORM, aio, stop_trainer_of, wait_for

from workbench.engine.sessions.session import iter_sessions
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.new_session import NewSessionScreen
from workbench.tui.screens.training import TrainingScreen


async def _form(app, pilot, corpus, tensorboard: str) -> NewSessionScreen:
    await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), what="the form")
    form = app.screen
    form.query_one("#path", Input).value = str(corpus)
    for key, value in TINY_FORM.items():
        form.query_one(f"#{key}", Input).value = value
    form.query_one("#device", Select).value = "cpu"
    form.query_one("#tensorboard", Input).value = tensorboard
    return form


@aio
async def test_a_tensorboard_folder_from_the_form_gets_the_run_live(tmp_path, corpus):
    sessions, logdir = tmp_path / "sessions", tmp_path / "tb"
    app = WorkbenchApp(sessions)
    session = None
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            await _form(app, pilot, corpus, str(logdir))
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
            session = app.screen.session
            assert session.read_config().tensorboard == str(logdir.resolve())
            run = logdir / session.name
            await wait_for(pilot, lambda: run.is_dir() and any(p.stat().st_size > 200 for p in run.iterdir()), 60,
                           "the trainer's TensorBoard event file")
    finally:
        if session is not None:
            stop_trainer_of(session)


@aio
async def test_a_file_as_the_tensorboard_folder_is_flagged_on_its_field(tmp_path, corpus):
    sessions, a_file = tmp_path / "sessions", tmp_path / "file"
    a_file.write_text("x")
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(100, 40)) as pilot:
        form = await _form(app, pilot, corpus, str(a_file))
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        error = form.query_one("#tensorboard-error", Static)
        assert error.display and "is a file, not a folder" in str(error.render())
        assert isinstance(app.screen, NewSessionScreen) and not list(iter_sessions(sessions))
