"""The whole loop, with a real trainer process: form -> training -> pause -> resume ->
checkpoint -> quit with stop-and-save -> reopen shows the history."""
from __future__ import annotations

import time

from textual.widgets import Input, Select
from tui_support import TINY_FORM, aio, stop_trainer_of, wait_for

from workbench.engine.sessions.session import Session, iter_sessions, read_jsonl
from workbench.tui.app import WorkbenchApp
from workbench.tui.modals.quit import QuitModal
from workbench.tui.screens.new_session import NewSessionScreen
from workbench.tui.screens.training import TrainingScreen
from workbench.tui.widgets.event_log import EventLog
from workbench.tui.widgets.loss_chart import LossChart
from workbench.tui.widgets.sample_panel import SamplePanel


def fill_form(screen: NewSessionScreen, corpus, **values: str) -> None:
    screen.query_one("#path", Input).value = str(corpus)
    for key, value in {**TINY_FORM, **values}.items():
        screen.query_one(f"#{key}", Input).value = value
    screen.query_one("#device", Select).value = "cpu"


@aio
async def test_train_pause_resume_checkpoint_stop_and_reopen(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    app = WorkbenchApp(sessions)
    session = None
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), what="the form")
            fill_form(app.screen, corpus)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
            screen = app.screen
            session = screen.session
            chart, samples = screen.query_one(LossChart), screen.query_one(SamplePanel)
            await wait_for(pilot, lambda: screen.status.get("state") == "running" and chart.points > 2
                           and samples.drawn > 0, 30, "training with points and a sample")

            await pilot.press("p")
            await wait_for(pilot, lambda: screen.status.get("state") == "paused", what="paused")
            step = session.read_status()["step"]
            lines = len(read_jsonl(session.metrics_path))
            time.sleep(0.6)
            await pilot.pause(0.4)
            assert session.read_status()["step"] == step
            assert len(read_jsonl(session.metrics_path)) == lines

            await pilot.press("p")
            await wait_for(pilot, lambda: screen.status.get("state") == "running"
                           and (screen.status.get("step") or 0) > step, what="running again")

            await pilot.press("c")
            await wait_for(pilot, lambda: any(e.get("kind") == "checkpoint" and e.get("reason") == "requested"
                                              for e in read_jsonl(session.events_path)), what="a checkpoint")
            await wait_for(pilot, lambda: any("checkpoint" in line for line in screen.query_one(EventLog).plain_lines),
                           what="the checkpoint in the event log")

            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitModal), what="the quit question")
            await pilot.press("s")
            await wait_for(pilot, lambda: not app.is_running, 30, "the app to exit after stopping")
        status = session.read_status()
        assert status["state"] == "stopped"
        assert session.lock_holder() is None
        assert session.checkpoint_path("latest").exists()
    finally:
        if session is not None:
            stop_trainer_of(session)

    # Reopen: the history comes back from the session folder, and nothing starts training.
    metrics = read_jsonl(session.metrics_path)
    drawn = read_jsonl(session.samples_path)
    assert [s.name for s in iter_sessions(sessions)] == [session.name]
    app = WorkbenchApp(sessions, session=session.name)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.loaded, what="history")
        screen = app.screen
        chart = screen.query_one(LossChart)
        assert len(chart.train_x) == sum(1 for r in metrics if "train_loss" in r)
        assert len(chart.val_x) == sum(1 for r in metrics if "val_loss" in r)
        assert screen.query_one(SamplePanel).drawn == len(drawn)
        assert screen.query_one(SamplePanel).latest["step"] == drawn[-1]["step"]
        assert screen.status["state"] == "stopped"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TrainingScreen), what="back home")
        await pilot.press("q")
    assert Session(session.root).lock_holder() is None
