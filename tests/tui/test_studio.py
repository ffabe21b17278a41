"""The sample studio and the probe screen on a tiny trained session: reproducible samples,
streaming, stopping, checkpoint choice, saving, the next-character probe and the surprisal
view (whose mean is `workbench score`'s)."""
from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys

import pytest
from textual.widgets import Input, Select, TextArea
from tui_support import HeldStreams, aio, wait_for

from support import REPO, make_session, run_trainer, small_text
from workbench.tui.app import WorkbenchApp
from workbench.tui.modals.path_prompt import PathModal
from workbench.tui.screens.home import HomeScreen
from workbench.tui.screens.probe import ProbeScreen
from workbench.tui.screens.studio import StudioScreen
from workbench.tui.widgets.prob_bars import ProbBars
from workbench.tui.widgets.sample_columns import SampleColumns
from workbench.tui.widgets.surprisal_view import SurprisalView

ODD = "\u2603"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A session with step checkpoints at 10, 20 and 30 (and latest, best)."""
    root = tmp_path_factory.mktemp("studio")
    sessions = root / "sessions"
    session = make_session(sessions, small_text(root), name="st", checkpoint_every=10, keep_last=3, dropout=0.0)
    run_trainer(session, steps=30)
    assert [s for s, _ in session.step_checkpoints()] == [10, 20, 30]
    return sessions, session


async def open_studio(pilot, app) -> StudioScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, StudioScreen) and app.screen.model_info is not None,
                   what="the studio with its model")
    return app.screen


def set_fields(screen: StudioScreen, **values: str) -> None:
    for key, value in values.items():
        screen.inputs[key].value = value


async def generate(pilot, screen: StudioScreen) -> list[str]:
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: not screen.generating, what="the end of the generation")
    await pilot.pause()
    return screen.query_one(SampleColumns).texts


@aio
async def test_same_seed_same_text_and_batches_side_by_side(trained):
    sessions, session = trained
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_studio(pilot, app)
        set_fields(screen, prime="Th", length="120", top_k="", seed="7", num="1")
        first = await generate(pilot, screen)
        again = await generate(pilot, screen)
        assert first == again and len(first) == 1 and len(first[0]) == 2 + 120 and first[0].startswith("Th")
        set_fields(screen, num="3")
        batch = await generate(pilot, screen)
        assert len(batch) == 3 and len(set(batch)) == 3
        assert len(screen.query(".sample-column")) == 3
        # the same text `workbench sample` draws with these settings
        from workbench.engine.config import SampleSettings
        from workbench.engine.infer.inference import load_model
        from workbench.engine.infer.sampling import generate as draw

        model, vocab, _ = load_model(session, "latest", "cpu")
        settings = SampleSettings(length=120, top_k=None, prime="Th")
        assert first == draw(model, vocab, settings, seed=7)
        assert batch == draw(model, vocab, settings, num=3, seed=7)


@aio
async def test_the_text_streams_in_and_stop_leaves_it_shorter(trained, monkeypatch):
    """Text shows while the worker is still generating, and escape stops it for good. The
    stream is held (HeldStreams) so that no machine finishes 50,000 characters before the
    check (the native CPU step did on the tiny model)."""
    held = HeldStreams(monkeypatch)
    sessions, _ = trained
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_studio(pilot, app)
        columns = screen.query_one(SampleColumns)
        set_fields(screen, prime="The ", length="50000", seed="1")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: columns.generated > 0, what="the first characters")
        held.shown.set()
        assert screen.generating and columns.generated < 50_000  # on screen before the worker is done
        await pilot.press("escape")  # stop
        assert not screen.generating and isinstance(app.screen, StudioScreen)
        stopped = columns.generated
        held.release.set()  # the stream could go on now: nothing more may reach the screen
        await pilot.pause(0.3)
        assert columns.generated == stopped < 50_000
        set_fields(screen, length="15")  # still answering
        texts = await generate(pilot, screen)
        assert len(texts[0]) == len("The ") + 15
        await pilot.press("escape")  # not generating: back
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")


@aio
async def test_each_kept_checkpoint_gives_its_own_text(trained):
    sessions, _ = trained
    app = WorkbenchApp(sessions, studio="st", checkpoint="10")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_studio(pilot, app)
        assert screen.model_info.step == 10
        select = screen.query_one("#checkpoint", Select)
        assert [v for _, v in select._options if v is not Select.NULL] == ["latest", "best", "30", "20", "10"]
        set_fields(screen, prime="Th", length="80", top_k="", seed="3")
        early = await generate(pilot, screen)
        select.value = "30"
        await wait_for(pilot, lambda: screen.model_info is not None and screen.model_info.which == "30",
                       what="step 30 loaded")
        late = await generate(pilot, screen)
        assert screen.model_info.step == 30 and early != late


@aio
async def test_saving_writes_the_sample_where_the_dialog_says(trained):
    sessions, session = trained
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_studio(pilot, app)
        set_fields(screen, prime="Th", length="40", seed="11")
        texts = await generate(pilot, screen)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, PathModal), what="the path dialog")
        path = session.root / "samples" / "st-step30-seed11.txt"
        assert app.screen.query_one("#path", Input).value == str(path)
        await pilot.press("enter")
        await wait_for(pilot, lambda: path.exists(), what="the file")
        assert path.read_text() == texts[0] + "\n"


@aio
async def test_a_prime_with_characters_the_model_never_saw_is_flagged(trained):
    sessions, _ = trained
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_studio(pilot, app)
        set_fields(screen, prime=f"T{ODD}h")
        await pilot.pause()
        error = screen.query_one("#studio-error")
        assert error.display and "U+2603" in str(error.render()) and "never saw" in str(error.render())
        assert screen.inputs["prime"].has_class("-invalid")
        await pilot.press("ctrl+g")
        assert not screen.generating and screen.run_id == 0
        set_fields(screen, prime="Th", top_p="1.5")
        await pilot.pause()
        assert "top-p" in str(error.render())


@aio
async def test_probe_shows_the_model_distribution_and_appends_a_picked_character(trained):
    sessions, session = trained
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(100, 30)) as pilot:
        studio = await open_studio(pilot, app)
        set_fields(studio, prime="Th", top_k="3", top_p="")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ProbeScreen), what="the probe")
        probe = app.screen
        await wait_for(pilot, lambda: probe.result is not None and probe.result.prime == "Th", what="the distribution")
        probs = probe.result.probs
        assert math.fsum(p for _, p in probs) == pytest.approx(1.0, abs=1e-6)
        import torch

        from workbench.engine.infer.inference import load_model

        model, vocab, _ = load_model(session, "latest", "cpu")
        with torch.no_grad():
            logits, _ = model(torch.tensor([[vocab.index("T"), vocab.index("h")]]), model.init_hidden(1))
        expected = torch.softmax(logits[0, -1], dim=-1)
        for ch, p in probs:
            assert p == pytest.approx(float(expected[vocab.index(ch)]), abs=1e-7)
        bars = probe.query_one(ProbBars)
        await pilot.pause()
        assert bars.option_count == 20 and bars.kept == 3  # top-k 3 from the studio
        probe.inputs["top_k"].value = "5"
        await pilot.pause()
        assert bars.kept == 5
        bars.focus()
        bars.highlighted = 1
        picked = bars.char_at(1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: probe.result.prime == "Th" + picked, what="the next distribution")
        assert probe.inputs["prime"].value == "Th" + picked
        assert probe.result.probs != probs


@aio
async def test_surprisal_mean_is_the_score_of_the_same_text(trained, tmp_path):
    sessions, session = trained
    passage = small_text(tmp_path).read_text()[1000:1400]
    path = tmp_path / "passage.txt"
    path.write_text(passage)
    app = WorkbenchApp(sessions, studio="st")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_studio(pilot, app)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ProbeScreen), what="the probe")
        probe = app.screen
        await pilot.press("ctrl+t")  # the surprisal view
        path_input = probe.query_one("#passage-path", Input)
        path_input.value = str(path)
        path_input.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: probe.surprisal is not None and probe.surprisal.text == passage,
                       what="the passage scored")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            from workbench.cli import main

            assert main(["score", "st", str(path), "--json", "--device", "cpu", "--sessions-dir", str(sessions)]) == 0
        assert abs(probe.surprisal.mean_bits - json.loads(out.getvalue())["mean_bits"]) < 1e-6
        view = probe.query_one(SurprisalView)
        assert view.text == passage and view.bits[0] is None and all(b is not None for b in view.bits[1:])
        probe.query_one("#passage", TextArea).load_text(f"The {ODD} cat sat.")
        await wait_for(pilot, lambda: probe.surprisal.text.startswith("The " + ODD), what="a passage with a stranger")
        assert probe.surprisal.unknown == {ODD: 1} and view.bits[4] is None
        assert "outside the vocabulary" in str(probe.query_one("#surprisal-summary").render())


@aio
async def test_the_studio_opens_from_home_and_from_the_training_screen(trained):
    sessions, _ = trained
    app = WorkbenchApp(sessions)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.loaded, what="home")
        await pilot.press("g")
        await open_studio(pilot, app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TrainingScreen", what="the training screen")
        await pilot.press("g")
        await open_studio(pilot, app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TrainingScreen", what="back to training")


def test_the_app_and_its_studio_screens_import_without_torch():
    code = ("import sys\nimport workbench.tui.app, workbench.tui.screens.studio, workbench.tui.screens.probe, "
            "workbench.tui.screens.compare, workbench.engine.infer.probe\nassert 'torch' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr


def test_the_studio_samples_on_the_cores_other_processes_leave_free(trained, monkeypatch):
    """Every core on a quiet machine; one while another process (a trainer, a compile) keeps a
    core busy, as the load seen since the last model use says; the device line says which.
    The load is pretended (support.PretendMachine), never this machine's."""
    import torch

    from workbench.engine.machine import threads
    from workbench.engine.infer.model_cache import ModelCache
    from support import PretendMachine

    _, session = trained
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    machine = PretendMachine(monkeypatch, others=0.0)
    before = torch.get_num_threads()
    try:
        cache = ModelCache(session)
        machine.wait(2.0)
        assert cache.get("latest")[2]["device"] == "cpu (2 threads), fp32"
        machine.others = 1.0  # a trainer beside it
        machine.wait(2.0)
        assert cache.get("latest")[2]["device"] == "cpu (1 thread), fp32"
        assert torch.get_num_threads() == 1
        machine.others = 0.0
        machine.wait(2.0)
        assert cache.get("best")[2]["device"] == "cpu (2 threads), fp32"
    finally:
        torch.set_num_threads(before)
