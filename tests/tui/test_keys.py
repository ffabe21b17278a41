"""Every key can be found: footers show only keys that fit whole, most important first, always
with the key that lists them all (`?`, or f1 where fields take typing), which shows every key
of the screen, the ones the footer had no room for included."""
from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey
from tui_support import aio, finished_session, wait_for

from support import make_session, run_trainer, small_text
from workbench.tui.app import WorkbenchApp
from workbench.tui.modals.keys import KeysModal
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.new_session import NewSessionScreen
from workbench.tui.screens.probe import ProbeScreen
from workbench.tui.screens.studio import StudioScreen
from workbench.tui.screens.training import TrainingScreen
from workbench.tui.widgets.key_footer import KeyFooter, key_width


def footer_keys(screen) -> list[FooterKey]:
    return list(screen.query_one(KeyFooter).query(FooterKey))


def check_footer(screen, width: int) -> list[str]:
    """The footer's key labels; every key is whole within `width`, and the keys key is there."""
    keys = footer_keys(screen)
    assert sum(key_width(k) for k in keys) <= width, [(k.key_display, k.description) for k in keys]
    assert any(k.action == "keys" for k in keys), "no key that lists the others"
    return [f"{k.key_display} {k.description}" for k in keys]


async def keys_listed(pilot, app, key: str = "question_mark") -> str:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, KeysModal), what="the keys dialog")
    text = app.screen.text
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(app.screen, KeysModal), what="the dialog closed")
    return text


@pytest.mark.parametrize("width", [80, 100, 160])
@aio
async def test_footers_show_whole_keys_in_order_and_the_keys_key(tmp_path, corpus, width):
    sessions = tmp_path / "sessions"
    finished_session(sessions, corpus)
    finished_session(sessions, corpus, name="other")
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(width, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.loaded, what="home")
        await pilot.pause()
        shown = check_footer(app.screen, width)
        assert shown[0].endswith("Open") and shown[1].endswith("New")  # most important first
        listed = await keys_listed(pilot, app)
        for what in ("Mark or unmark", "Compare the marked", "Delete the selected", "Refresh"):
            assert what in listed  # whether or not the footer had room for them
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.loaded, what="training")
        await pilot.pause()
        check_footer(app.screen, width)
        listed = await keys_listed(pilot, app)
        for what in ("Show loss in nats or bits", "Smooth the training loss", "Show or hide the event log",
                     "Back to the session list", "Sample studio", "best full val"):
            assert what in listed
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        await pilot.press("space", "down", "space", "v")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="the comparison")
        await pilot.pause()
        check_footer(app.screen, width)
        assert "X axis" in await keys_listed(pilot, app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), what="the form")
        await pilot.pause()
        assert any(label.startswith("f1 ") for label in check_footer(app.screen, width))
        assert "Create the session" in await keys_listed(pilot, app, "f1")  # "?" types into a field here


@aio
async def test_the_studio_and_the_probe_list_their_keys_on_f1(tmp_path):
    sessions = tmp_path / "sessions"
    session = make_session(sessions, small_text(tmp_path), name="st", dropout=0.0)
    run_trainer(session, steps=10)
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StudioScreen) and app.screen.model_info is not None,
                       what="the studio")
        await pilot.pause()
        check_footer(app.screen, 80)
        await pilot.press("question_mark")  # typed into the prime, as a user would want
        assert app.screen.inputs["prime"].value.endswith("?") and isinstance(app.screen, StudioScreen)
        assert "Next-character probe" in await keys_listed(pilot, app, "f1")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ProbeScreen), what="the probe")
        await pilot.pause()
        check_footer(app.screen, 80)
        listed = await keys_listed(pilot, app, "f1")
        assert "Highlight the next character" in listed and "Switch between" in listed
