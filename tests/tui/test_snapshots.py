"""Snapshots of the home screen and of a finished session's training screen, built from fixed
files (no training, times in UTC), at 80x24 and 120x40. Update with --snapshot-update after
checking the new pictures by eye."""
from __future__ import annotations

import pytest
from tui_support import finished_session, wait_for

from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.training import TrainingScreen
from workbench.tui.widgets.loss_chart import LossChart

SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def fixed_sessions(tmp_path, corpus, monkeypatch, utc):
    monkeypatch.chdir(tmp_path)  # the home screen shows the folder: keep it the same every run
    finished_session(tmp_path / "sessions", corpus)
    return tmp_path / "sessions"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home_screen(snap_compare, fixed_sessions, size):
    async def loaded(pilot):
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "loaded", False), what="the session list")

    assert snap_compare(WorkbenchApp(fixed_sessions.relative_to(fixed_sessions.parent)), terminal_size=size,
                        run_before=loaded)


def test_home_screen_empty(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The first run it suggests depends on the machine (a cached corpus, a GPU): pretend a bare one.
    monkeypatch.setattr("workbench.corpora.catalog.find_cached", lambda name: None)
    monkeypatch.setattr("workbench.engine.sessions.suggest.visible_gpus", lambda: 0)

    async def loaded(pilot):
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "loaded", False), what="the session list")

    assert snap_compare(WorkbenchApp(tmp_path.relative_to(tmp_path) / "sessions"), terminal_size=(80, 24),
                        run_before=loaded)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_training_screen_of_a_finished_session(snap_compare, fixed_sessions, size):
    async def loaded(pilot):
        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.loaded, what="history")
        await wait_for(pilot, lambda: app.screen.query_one(LossChart).points > 0, what="the chart")
        await pilot.pause()

    app = WorkbenchApp(fixed_sessions.relative_to(fixed_sessions.parent), session="anna-fixed")
    assert snap_compare(app, terminal_size=size, run_before=loaded)
