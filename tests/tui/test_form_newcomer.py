"""The new-session form for someone trying it for the first time: it starts with a preset that
fits the machine and says why, its labels never wrap at 80 columns, the field being typed in
stands out, a named corpus that cannot be had offline is explained whole on the form, and the
empty home screen suggests a first run that works offline."""
from __future__ import annotations

from textual.widgets import Input, Label, Static
from tui_support import aio, wait_for

from workbench.corpora import catalog
from workbench.engine.train.presets import BY_KEY
from workbench.engine.sessions.suggest import first_run
from workbench.tui.app import WorkbenchApp
from workbench.tui.form_fields import LABEL_CELLS, NUMBER_FIELDS, form_words
from workbench.tui.screens.new_session import NewSessionScreen


async def open_form(app, pilot) -> NewSessionScreen:
    await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), what="the form")
    await pilot.pause()
    return app.screen


def shown(screen, selector: str) -> str:
    widget = screen.query_one(selector, Static)
    return str(widget.render()) if widget.display else ""


@aio
async def test_the_preset_fits_the_machine_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr("workbench.engine.train.presets.visible_gpus", lambda: 0)
    app = WorkbenchApp(tmp_path / "sessions")
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(app, pilot)
        assert form.query_one("#preset").value == "cpu-budget" and form.query_one("#hidden", Input).value == "256"
        assert form.query_one("#dropout", Input).value in ("0", "0.0")
        assert "no GPU" in shown(form, "#preset-why")
        form.query_one("#preset").value = "notebook"
        await pilot.pause()
        assert form.query_one("#hidden", Input).value == "512" and shown(form, "#preset-why") == ""
        # no label wraps at 80 columns
        for label in form.query(".field-label").results(Label):
            assert label.size.height == 1, str(label.render())
        assert all(len(spec.label) <= LABEL_CELLS for spec in NUMBER_FIELDS)
    monkeypatch.setattr("workbench.engine.train.presets.visible_gpus", lambda: 2)
    app = WorkbenchApp(tmp_path / "sessions")
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(app, pilot)
        assert form.query_one("#preset").value == "notebook" and "2 GPUs" in shown(form, "#preset-why")


@aio
async def test_the_tuned_preset_fills_its_schedule_and_length_in_the_form(tmp_path, monkeypatch):
    monkeypatch.setattr("workbench.engine.train.presets.visible_gpus", lambda: 0)
    tuned = BY_KEY["tuned"]
    app = WorkbenchApp(tmp_path / "sessions")
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(app, pilot)
        assert form.query_one("#schedule").value == "constant" and form.query_one("#max_epochs", Input).value == ""
        form.query_one("#preset").value = "tuned"
        await pilot.pause()
        assert form.query_one("#schedule").value == tuned.values["schedule"]
        assert form.query_one("#warmup_steps", Input).value == str(tuned.values["warmup_steps"])
        assert form.query_one("#max_epochs", Input).value == f"{tuned.epochs:g}"  # no budget was filled in
        config = form.build_config()
        assert config is not None and all(getattr(config, k) == v for k, v in tuned.values.items())
        assert config.max_epochs == tuned.epochs
        form.query_one("#max_epochs", Input).value = "3"
        form.query_one("#preset").value = "notebook"
        await pilot.pause()
        notebook = form.build_config()  # every setting of the notebook's, none left from the tuned one
        assert (notebook.schedule, notebook.warmup_steps, notebook.lr) == ("constant", 0, 0.001)
        form.query_one("#preset").value = "tuned"
        await pilot.pause()
        assert form.query_one("#max_epochs", Input).value == "3"  # a budget typed in stays


@aio
async def test_the_focused_field_stands_out(tmp_path):
    app = WorkbenchApp(tmp_path / "sessions")
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(app, pilot)
        hidden, layers = form.query_one("#hidden", Input), form.query_one("#layers", Input)
        hidden.focus()
        label = hidden.parent.query_one(".field-label")
        other = layers.parent.query_one(".field-label")
        await wait_for(pilot, lambda: bool(label.rich_style.bold), what="the focused field's label in bold")
        assert not other.rich_style.bold
        assert hidden.styles.background_tint.a > 0 and layers.styles.background_tint.a == 0


@aio
async def test_a_named_corpus_that_cannot_be_had_is_explained_whole_on_the_form(tmp_path, monkeypatch):
    # anna is not here and its download fails (a refused connection, as offline)
    monkeypatch.setattr(catalog, "find_cached", lambda name: None)
    monkeypatch.setenv("WORKBENCH_CORPUS_URL_ANNA", "http://127.0.0.1:9/anna.txt")
    app = WorkbenchApp(tmp_path / "sessions")
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#corpus").value = "anna"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not started" in shown(form, "#form-error"), 30, "the answer")
        message = shown(form, "#corpus-error")
        assert "put the text of Anna Karenina" in message and "anna.txt" in message  # whole: where to put it
        assert "named corpus" in shown(form, "#form-error")
        assert all(len(str(n.message)) < 60 for n in app._notifications)  # no long toast over the form


def test_form_words_name_the_fields_not_the_flags():
    assert form_words("--layers must be at least 1, got 0") == "layers must be at least 1, got 0"
    assert form_words("the cosine schedule needs a length: give --steps or --epochs") == \
        "the cosine schedule needs a length: give steps or epochs"
    assert "--" not in form_words("--batch-size 128 cannot be split evenly across 3 processes; give a batch size "
                                  "divisible by 3 (or another --nproc)")


def test_named_corpora_are_case_insensitive():
    assert catalog.entry("Anna") is catalog.entry("anna") is not None
    assert catalog.entry("PYTHON-HELP").name == "python-help" and catalog.entry("nope") is None


@aio
async def test_the_empty_home_screen_suggests_a_run_that_works_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "find_cached", lambda name: None)  # nothing downloaded: the built-in corpus
    assert "--corpus python-help" in first_run()
    app = WorkbenchApp(tmp_path / "sessions")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.loaded, what="the session list")
        text = shown(app.screen, "#empty")
        assert "--corpus python-help" in text and "--corpus anna" not in text
