"""Comparing runs from the home screen: marks, the overlaid curves, the settings side by side."""
from __future__ import annotations

from textual.widgets import DataTable
from tui_support import aio, finished_session, wait_for

from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.home import HomeScreen
from workbench.tui.widgets.compare_chart import CompareChart


def two_sessions(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    finished_session(sessions, corpus, name="run-a")
    b = finished_session(sessions, corpus, name="run-b")
    config = b.read_config()
    config.lr = 0.003
    b.write_config(config)
    return sessions


@aio
async def test_marked_runs_are_overlaid_and_their_settings_compared(tmp_path, corpus):
    sessions = two_sessions(tmp_path, corpus)
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.loaded, what="home")
        home = app.screen
        await pilot.press("v")  # nothing marked: it says what to do and stays
        assert app.screen is home
        await pilot.press("space")
        assert home.marked == {"run-a"}
        assert "\u25cf" in str(home.query_one(DataTable).get_cell("run-a", "name"))
        await pilot.press("down", "space")
        assert home.marked == {"run-a", "run-b"}
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="the comparison")
        screen = app.screen
        chart = screen.query_one(CompareChart)
        await wait_for(pilot, lambda: {("run-a", "val"), ("run-b", "val")} <= set(chart.series()), what="both curves")
        xs, ys = chart.series()[("run-a", "val")]
        assert xs[0] == 100 and len(xs) == 10
        # the settings: lr differs and is highlighted; hidden is the same and is not
        assert "lr" in screen.differing and "hidden" not in screen.differing
        lr_cell, hidden_cell = screen.cell("lr", "run-b"), screen.cell("hidden", "run-b")
        assert str(lr_cell) == "0.003" and lr_cell.spans and "warning" in str(lr_cell.spans[0].style)
        assert not hidden_cell.spans
        await pilot.press("d")  # only the differences
        table = screen.query_one(DataTable)
        keys = [row.key.value for row in table.ordered_rows]
        assert "lr" in keys and "hidden" not in keys
        # x axis: steps -> epochs -> characters seen -> wall time
        await pilot.press("x")
        assert chart.xmode == "epoch" and chart.series()[("run-a", "val")][0][0] == 0.25
        await pilot.press("x")
        assert chart.xmode == "chars" and chart.series()[("run-a", "val")][0][0] == 100 * 32 * 64
        await pilot.press("x")
        assert chart.xmode == "time" and chart.series()[("run-a", "val")][0][0] == 90.0  # from the first record
        await pilot.press("t")
        assert ("run-b", "train") in chart.series()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is home, what="home")
