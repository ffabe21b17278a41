"""The studio, the probe and the dialogs do what their own words say: up/down and enter in the
probe's prime field pick and append a character; the surprisal view takes a path in its file
field (and one typed into the passage box is loaded, not scored); the prime of a sample is shown,
set apart; the counts say per sample or in all, and count while streaming; the sample settings
have top-p; the comparison speaks in words and keeps the ends of long paths; a screenshot is
saved where it can be found."""
from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea
from tui_support import HeldStreams, aio, finished_session, wait_for

from support import make_session, run_trainer, small_text
from workbench.engine.config import SampleSettings
from workbench.tui.app import WorkbenchApp
from workbench.tui.modals.prompt import SampleSettingsModal
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.probe import ProbeScreen
from workbench.tui.screens.studio import StudioScreen, generated_text
from workbench.tui.widgets.prob_bars import ProbBars
from workbench.tui.widgets.sample_columns import SampleColumns


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio-newcomer")
    sessions = root / "sessions"
    session = make_session(sessions, small_text(root), name="st", dropout=0.0)
    run_trainer(session, steps=20)
    return sessions, session


async def open_probe(pilot, app) -> ProbeScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, StudioScreen) and app.screen.model_info is not None,
                   what="the studio")
    app.screen.inputs["prime"].value = "Th"
    await pilot.press("ctrl+t")
    await wait_for(pilot, lambda: isinstance(app.screen, ProbeScreen) and app.screen.result is not None
                   and app.screen.result.prime == "Th", what="the probe's distribution")
    await pilot.pause()
    return app.screen


@aio
async def test_down_and_enter_in_the_prime_field_append_the_highlighted_character(trained):
    sessions, _ = trained
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(80, 24)) as pilot:
        probe = await open_probe(pilot, app)
        bars = probe.query_one(ProbBars)
        assert app.focused is probe.inputs["prime"]  # focus starts where one types
        await pilot.press("down", "down", "up")
        assert bars.highlighted == 1 and app.focused is probe.inputs["prime"]
        picked = bars.char_at(1)
        await pilot.press("enter")
        assert probe.inputs["prime"].value == "Th" + picked
        await wait_for(pilot, lambda: probe.result.prime == "Th" + picked, what="the next distribution")
        assert "enter appends it" in str(probe.query_one("#probe-summary").render())


@aio
async def test_a_path_goes_in_the_file_field_and_is_never_scored_as_a_passage(trained, tmp_path):
    sessions, _ = trained
    passage = small_text(tmp_path).read_text()[2000:2300]
    path = tmp_path / "passage.txt"
    path.write_text(passage)
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(80, 24)) as pilot:
        probe = await open_probe(pilot, app)
        await pilot.press("ctrl+t")
        assert app.focused is probe.query_one("#passage-path", Input)  # as the hint says: the file first
        await pilot.press(*str(path), "enter")
        await wait_for(pilot, lambda: probe.surprisal is not None and probe.surprisal.text == passage,
                       what="the file scored")
        # a path typed into the passage box by mistake: loaded as the file it names
        probe.surprisal = None
        other = tmp_path / "other.txt"
        other.write_text(passage[:100])
        box = probe.query_one("#passage", TextArea)
        box.focus()
        box.load_text(str(other))
        await wait_for(pilot, lambda: probe.surprisal is not None and probe.surprisal.text == passage[:100],
                       what="the file the box named")
        assert probe.query_one("#passage-path", Input).value == str(other)


@aio
async def test_the_prime_is_shown_and_the_counts_say_what_they_count(trained, monkeypatch):
    held = HeldStreams(monkeypatch)  # still streaming when the count is read, however fast
    sessions, _ = trained
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StudioScreen) and app.screen.model_info is not None,
                       what="the studio")
        studio = app.screen
        columns = studio.query_one(SampleColumns)
        info = studio.query_one("#studio-info")
        for key, value in {"prime": "The ", "length": "50000", "seed": "3", "num": "2"}.items():
            studio.inputs[key].value = value
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: columns.generated > 0 and "of 50,000 characters each" in str(info.render()),
                       what="a count while streaming")
        held.shown.set()
        await pilot.press("escape")
        held.release.set()
        assert all("prime \u201cThe \u201d" in str(c.border_title) for c in columns.columns)
        assert columns.texts[0].startswith("The ")  # the prime is part of the sample, as the CLI prints it
        studio.inputs["length"].value = "40"
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: not studio.generating, what="the end")
        assert "2 samples \u00d7 40 chars = 80 in" in str(info.render()) and "chars/s" in str(info.render())
    assert generated_text(1, 300, 0.5) == "300 characters in 0.5 s (600 chars/s)"


@aio
async def test_the_sample_settings_dialog_has_top_p(tmp_path):
    app = WorkbenchApp(tmp_path / "sessions")
    async with app.run_test(size=(80, 24)) as pilot:
        answers: list = []
        await app.push_screen(SampleSettingsModal(SampleSettings(top_p=0.9)), answers.append)
        await pilot.pause()
        top_p = app.screen.query_one("#top_p", Input)
        assert top_p.value == "0.9"
        top_p.value = "1.5"
        await pilot.pause()
        await pilot.press("enter")
        assert not answers  # refused: top-p must be in (0, 1]
        top_p.value = ""  # off
        await pilot.pause()
        app.screen.action_apply()
        await wait_for(pilot, lambda: bool(answers), what="the answer")
        assert answers == [{"top_p": 1.0}]  # 1 keeps every character: the command's way to say off
        await app.push_screen(SampleSettingsModal(SampleSettings()), answers.append)
        await pilot.pause()
        app.screen.query_one("#top_p", Input).value = "0.5"
        await pilot.pause()
        app.screen.action_apply()
        await wait_for(pilot, lambda: len(answers) == 2, what="the second answer")
        assert answers[1] == {"top_p": 0.5}


@aio
async def test_the_comparison_speaks_in_words_and_keeps_the_ends_of_paths(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    deep = tmp_path / "a-folder-with-a-long-name" / "another-long-folder-name" / "the-corpus-file.txt"
    deep.parent.mkdir(parents=True)
    deep.write_text(corpus.read_text())
    finished_session(sessions, deep, name="run-a")
    finished_session(sessions, corpus, name="run-b")
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.loaded, what="home")
        await pilot.press("space", "down", "space", "v")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.differing, what="compare")
        screen = app.screen
        assert str(screen.cell("lr", "setting")) == "learning rate"
        assert str(screen.cell("val_frac", "setting")) == "validation fraction"
        assert str(screen.cell("max_steps", "setting")) == "steps (target)"
        path = str(screen.cell("corpus", "run-a"))
        assert "\u2026" in path and path.endswith("the-corpus-file.txt") and path.startswith("/")


@aio
async def test_a_screenshot_goes_where_it_can_be_found(tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr("workbench.tui.app.user_downloads_path", lambda: tmp_path / "no-Downloads")
    app = WorkbenchApp(tmp_path / "sessions")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="home")
        app.deliver_screenshot()
        await wait_for(pilot, lambda: any(here.glob("*.svg")), what="the screenshot file")
        saved = next(here.glob("*.svg"))
        await wait_for(pilot, lambda: any(str(saved) in str(n.message) for n in app._notifications),
                       what="its path said")


@aio
async def test_a_screenshot_never_writes_through_what_is_already_there(tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr("workbench.tui.app.user_downloads_path", lambda: tmp_path / "no-Downloads")
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    (here / "shot.svg").symlink_to(precious)  # planted where the screenshot would go
    app = WorkbenchApp(tmp_path / "sessions")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="home")
        app.deliver_screenshot(filename="shot.svg")
        await wait_for(pilot, lambda: (here / "shot-2.svg").exists(), what="the screenshot under a new name")
    assert precious.read_text() == "keep me\n" and (here / "shot.svg").is_symlink()
    assert (here / "shot-2.svg").read_text().startswith("<svg")
