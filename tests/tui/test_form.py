"""The new-session form flags bad values on their fields, with the engine's reasons, and
shows engine errors (a missing corpus) in the form instead of crashing."""
from __future__ import annotations

from textual.widgets import Input, Static
from tui_support import TINY_FORM, aio, wait_for

from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.new_session import NewSessionScreen


async def open_form(app, pilot) -> NewSessionScreen:
    await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), what="the form")
    return app.screen


def error_text(screen, key: str) -> str:
    widget = screen.query_one(f"#{key}-error", Static)
    return str(widget.render()) if widget.display else ""


@aio
async def test_bad_values_are_flagged_on_their_fields(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(100, 40)) as pilot:
        form = await open_form(app, pilot)
        lr = form.query_one("#lr", Input)
        lr.focus()
        await pilot.press("ctrl+a", "ctrl+k", *"-1")  # typed, as a user would
        await pilot.pause()
        # in the form's words (its labels), not the command line's flags
        assert "learning rate must be a positive number" in error_text(form, "lr")
        assert "--" not in error_text(form, "lr")
        lr.value = "fast"
        await pilot.pause()
        assert "not a number" in error_text(form, "lr")
        form.query_one("#hidden", Input).value = "0"
        await pilot.pause()
        assert "hidden units must be at least 1" in error_text(form, "hidden")

        form.query_one("#path", Input).value = str(corpus)
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, NewSessionScreen)  # nothing started
        assert not sessions.exists() or not any(sessions.iterdir())

        lr.value = "0.002"
        form.query_one("#hidden", Input).value = "32"
        await pilot.pause()
        assert error_text(form, "lr") == "" and error_text(form, "hidden") == ""
        # A cross-field rule checked on Start: the cosine schedule needs a length.
        form.query_one("#max_steps", Input).value = ""
        form.query_one("#schedule").value = "cosine"
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert "cosine" in str(form.query_one("#form-error", Static).render())
        assert isinstance(app.screen, NewSessionScreen)


@aio
async def test_a_missing_corpus_shows_the_engine_error_in_the_form(tmp_path):
    sessions = tmp_path / "sessions"
    missing = tmp_path / "missing.txt"
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(100, 40)) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#path", Input).value = str(missing)
        # flagged as it is typed, under the path field (not the named corpus's)
        await wait_for(pilot, lambda: "missing.txt" in error_text(form, "path"), what="the path flagged as typed")
        assert error_text(form, "corpus") == ""
        for key, value in TINY_FORM.items():
            form.query_one(f"#{key}", Input).value = value
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not form.creating and "not started" in error_text(form, "form"),
                       what="the engine's answer")
        assert "missing.txt" in error_text(form, "path") and error_text(form, "corpus") == ""
        assert isinstance(app.screen, NewSessionScreen) and app.is_running
    assert not sessions.exists() or not any(sessions.iterdir())
