"""The training screen as a newcomer reads it: the bar is the run's progress and the epoch a
figure of its own; paused figures say they are paused and the footer offers Resume; a trainer
that has gone quiet says so; the two validation figures are told apart; `d` goes back to the
list when the user came from it. A live trainer is stood in for by holding the session's lock
in this process and writing its status.json."""
from __future__ import annotations

import time

from tui_support import aio, finished_session, wait_for

from workbench.engine.files import write_json_atomic
from workbench.engine.sessions.lock import SessionLock
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.training import TrainingScreen
from workbench.tui.widgets.loss_chart import LossChart
from workbench.tui.widgets.status_bar import StatusBar


def bar_text(screen) -> str:
    bar = screen.query_one(StatusBar)
    bar.redraw()
    return str(bar.render())


def set_status(session, **fields) -> dict:
    status = {**session.read_status(), "pid": 4242, "updated": time.time(), **fields}
    write_json_atomic(session.status_path, status)
    return status


def footer_actions(screen) -> dict[str, str]:
    """The footer's shown bindings of the screen: action -> description."""
    return {a.binding.action: a.binding.description for a in screen.active_bindings.values()
            if a.node is screen and a.binding.show}


async def training_screen(pilot, app) -> TrainingScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.loaded, what="the history")
    return app.screen


@aio
async def test_the_bar_is_the_runs_progress_and_the_epoch_its_own_figure(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    session = finished_session(sessions, corpus)  # 1,000 steps of a 1,000-step budget, 2.5 epochs
    app = WorkbenchApp(sessions, session=session.name)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await training_screen(pilot, app)
        await wait_for(pilot, lambda: screen.query_one(StatusBar).config is not None, what="the config")
        text = bar_text(screen)
        assert "step 1,000/1,000" in text and "100%" in text and "epoch 2.50" in text
        # halfway through the second epoch, 71% of the run (the "26%" was the epoch's)
        bar = screen.query_one(StatusBar)
        bar.status = {**bar.status, "step": 710, "epoch": 1}
        bar.last = {**bar.last, "step": 710, "epoch": 1.775}
        text = bar_text(screen)
        assert "step 710/1,000" in text and "71%" in text and "epoch 1.77" in text
        assert "best full val" in text  # the full validation, told apart from the chart's estimate
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert "71%" in bar_text(screen) and "epoch 1.77" in bar_text(screen)
        chart = screen.query_one(LossChart)
        assert len(chart.full) == 2 and len(chart.val) == 8  # full passes at 500 and 1,000; estimates between


@aio
async def test_paused_figures_say_so_and_the_footer_offers_resume(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    session = finished_session(sessions, corpus)
    with SessionLock(session.lock_path, session.name):
        set_status(session, state="running", step=700, eta_seconds=312.0, chars_per_sec=11_100.0, report_seconds=2.0)
        app = WorkbenchApp(sessions, session=session.name)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await training_screen(pilot, app)
            await wait_for(pilot, lambda: screen.status.get("state") == "running", what="running")
            assert footer_actions(screen).get("pause") == "Pause" and "unpause" not in footer_actions(screen)
            assert "11.1k chars/s" in bar_text(screen) and "ETA 5:12" in bar_text(screen)

            set_status(session, state="paused")
            await wait_for(pilot, lambda: screen.status.get("state") == "paused", what="paused")
            assert footer_actions(screen).get("unpause") == "Resume" and "pause" not in footer_actions(screen)
            text = bar_text(screen)
            assert "paused (11.1k chars/s, ETA 5:12 when resumed)" in text
            assert "chars/s  ETA" not in text  # not shown as live figures


@aio
async def test_a_trainer_silent_for_long_says_so_in_the_status_line(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    session = finished_session(sessions, corpus)
    with SessionLock(session.lock_path, session.name):
        set_status(session, state="running", step=700, eta_seconds=312.0, chars_per_sec=11_100.0, report_seconds=2.0)
        app = WorkbenchApp(sessions, session=session.name)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await training_screen(pilot, app)
            await wait_for(pilot, lambda: screen.status.get("state") == "running", what="running")
            assert "no step for" not in bar_text(screen)
            set_status(session, updated=time.time() - 45)  # the last report came 45 s ago; usually every 2 s
            await wait_for(pilot, lambda: "no step for" in bar_text(screen), what="the stall in the status line")
            assert "(usually 2 s)" in bar_text(screen) and "ETA 5:12" not in bar_text(screen)
            set_status(session, step=710)  # a report again
            await wait_for(pilot, lambda: "no step for" not in bar_text(screen), what="the stall over")


@aio
async def test_detach_goes_back_home_when_the_user_came_from_there(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    session = finished_session(sessions, corpus)
    with SessionLock(session.lock_path, session.name):
        set_status(session, state="running", step=700)
        app = WorkbenchApp(sessions)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.loaded, what="home")
            await pilot.press("enter")
            screen = await training_screen(pilot, app)
            await wait_for(pilot, lambda: screen.active, what="running")
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home again")
            assert app.is_running
            assert any("workbench attach anna-fixed" in str(n.message) for n in app._notifications)

        # started on the session (`workbench attach NAME`): d leaves the app, naming the command
        app = WorkbenchApp(sessions, session=session.name)
        said: list[str] = []
        leave = app.exit
        app.exit = lambda *args, message=None, **kwargs: (said.append(str(message)), leave(*args, **kwargs))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await training_screen(pilot, app)
            await wait_for(pilot, lambda: screen.active, what="running")
            await pilot.press("d")
            await wait_for(pilot, lambda: bool(said), what="the app to exit")
        assert "`workbench attach anna-fixed` watches it again" in said[0] and "workbench open" not in said[0]


@aio
async def test_a_long_history_of_samples_is_counted_whole(tmp_path, corpus):
    """The panel shows the last 50; its count is of all (a reopened long run once said 50 of 73)."""
    from tui_support import write_jsonl

    from workbench.tui.widgets.sample_panel import KEEP, SamplePanel, SampleView

    sessions = tmp_path / "sessions"
    session = finished_session(sessions, corpus)
    write_jsonl(session.samples_path, [{"step": 10 * i, "time": 1.0 + i, "text": f"sample {i}", "prime": "The "}
                                       for i in range(1, 74)])
    app = WorkbenchApp(sessions, session=session.name)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await training_screen(pilot, app)
        panel = screen.query_one(SamplePanel)
        await wait_for(pilot, lambda: panel.drawn == 73, what="every sample counted")
        assert len(panel.query(SampleView)) == KEEP and panel.latest["step"] == 730
