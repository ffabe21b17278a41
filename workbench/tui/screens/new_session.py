"""The new-session form: a corpus, a model, how to train it and for how long.

Every field is checked as it is typed, with the engine's own rules in the form's words
(form_fields.py), and the whole config again on Start; a typed corpus path is looked at in a
thread as it is typed. Loading the corpus can take a moment (or download it), so the session is
created in a thread worker; an engine error (a missing file, a corpus too small for the batch, a
named corpus that is not here and cannot be downloaded) lands on the form, whole, under its
field. The form starts with the preset that suits this machine (engine/train/presets.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.validation import ValidationResult
from textual.widgets import Button, Input, Label, LoadingIndicator, Select, Static
from textual.worker import get_current_worker

from workbench.engine.config import CELLS, DEVICES, PRECISIONS, SCHEDULES, TrainConfig
from workbench.engine.errors import CorpusError, WorkbenchError
from workbench.engine.machine.gpus import process_choices
from workbench.engine.sessions.session import check_name
from workbench.engine.export.tensorboard_log import logdir_setting
from workbench.tui.form_fields import (CHOICES, NUMBER_FIELDS, SECTIONS, SPECS, Spec, check_field, field_for_message,
                                       form_words, path_problem, whole)
from workbench.tui.messages import Created, CreateFailed, PathChecked
from workbench.tui.modals.prompt import EngineCheck
from workbench.engine.train.presets import BY_KEY, PRESET_FIELDS, PRESETS, Preset, starting_preset
from workbench.tui.screens.base import KEYS_BINDING_F1, BaseScreen
from workbench.tui.text import one_line
from workbench.tui.widgets.key_footer import KeyFooter

PATH_CHOICE = "__path__"


def corpus_options() -> tuple[list[tuple[str, str]], str]:
    """The corpus choice (short labels: they fit 80 columns) and the one to start with: the
    first named corpus that is here (never one that needs a download)."""
    from workbench.corpora.catalog import listing

    corpora = listing()
    options = []
    for c in corpora:
        where = "built-in" if c["builtin"] else ("cached" if c["cached"] else "needs a download")
        options.append((f"{c['name']} ({where}): {c['title']}", c["name"]))
    options.append(("a text file: the path below", PATH_CHOICE))
    return options, next((c["name"] for c in corpora if c["cached"]), PATH_CHOICE)


class NewSessionScreen(BaseScreen):
    BINDINGS = [
        KEYS_BINDING_F1,
        Binding("ctrl+s", "start", "Start training", tooltip="Create the session and start training",
                id="new.start"),
        Binding("escape", "cancel", "Cancel", tooltip="Back to the session list", id="new.cancel"),
    ]
    KEYS_TITLE = "Keys of the new-session form"
    ABOUT = ("tab and shift+tab move between fields; enter in a field starts, as ctrl+s does. A field the "
             "engine would refuse says why under it as you type.")

    def __init__(self, sessions_dir: Path) -> None:
        super().__init__()
        self.sessions_dir = Path(sessions_dir)
        self.creating = False
        self.preset, self.preset_why = starting_preset()

    # -- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        d = TrainConfig()
        start = {**{name: getattr(d, name) for name in SPECS}, **self.preset.values}
        if self.preset.epochs is not None:
            start["max_epochs"] = self.preset.epochs
        options, corpus = corpus_options()
        with VerticalScroll(id="form"):
            yield Static(Content.assemble(("New training session", "bold $text-accent"),
                                          "   tab: next field, ctrl+s: start, esc: cancel"), classes="form-title")
            yield Static("Corpus", classes="section")
            yield self._row("corpus", "named corpus",
                            Select(options, value=corpus, allow_blank=False, id="corpus", compact=True))
            yield self._row("path", "or a text file",
                            Input(placeholder="a UTF-8 text file (used when filled in)", id="path",
                                  compact=True))
            yield self._row("name", "session name",
                            Input(placeholder="blank: corpus-model-date", id="name", compact=True,
                                  validators=[EngineCheck(str, lambda v: v and check_name(v), "a name")]))
            yield Static("Preset", classes="section")
            yield self._row("preset", "preset", Select([(p.label, p.key) for p in PRESETS], value=self.preset.key,
                                                       allow_blank=False, id="preset", compact=True))
            yield Static(self.preset_why, id="preset-why", classes="field-note", markup=False)
            yield self._row("cell", "cell", Select([(c, c) for c in CELLS], value=start.get("cell", d.cell),
                                                   allow_blank=False, id="cell", compact=True))
            for title, names in SECTIONS:
                yield Static(title, classes="section")
                for name in names:
                    if name == "warmup_steps":  # the schedule's own setting, under it
                        yield self._row("schedule", "schedule",
                                        Select([(s, s) for s in SCHEDULES], value=start.get("schedule", d.schedule),
                                               allow_blank=False, id="schedule", compact=True))
                    yield self._number_row(SPECS[name], start[name])
            yield from self._hardware(d)
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Start training (ctrl+s)", variant="primary", id="start", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            yield LoadingIndicator(id="creating")
        yield KeyFooter()

    def _hardware(self, d: TrainConfig) -> ComposeResult:
        yield Static("Hardware", classes="section")
        yield self._row("device", "device", Select([(x, x) for x in DEVICES], value=d.device, allow_blank=False,
                                                   id="device", compact=True))
        yield self._row("precision", "precision", Select([(x, x) for x in PRECISIONS], value=d.precision,
                                                         allow_blank=False, id="precision", compact=True))
        yield self._row("processes", "processes", Select(process_choices(), value=d.processes, allow_blank=False,
                                                         id="processes", compact=True))
        yield Static("Logs", classes="section")
        yield self._row("tensorboard", "TensorBoard folder",
                        Input(placeholder="blank: none; else written live to FOLDER/SESSION", id="tensorboard",
                              compact=True))

    def _row(self, key: str, label: str, widget) -> Vertical:
        return Vertical(Horizontal(Label(label, classes="field-label", markup=False), widget, classes="field-row"),
                        Static("", id=f"{key}-error", classes="field-error", markup=False),
                        classes="field")

    def _number_row(self, spec: Spec, default: Any) -> Vertical:
        text = "" if default is None else f"{default:g}" if isinstance(default, float) else str(default)
        check = EngineCheck(spec.read, lambda v, n=spec.name: check_field(n, v),
                            "a whole number" if spec.parse is whole else "a number")
        return self._row(spec.name, spec.label, Input(text, id=spec.name, compact=True, validators=[check],
                                                      valid_empty=spec.optional))

    def on_mount(self) -> None:
        self.query_one("#creating").display = False
        self.query_one("#form-error").display = False
        for error in self.query(".field-error"):
            error.display = False
        self.query_one("#corpus").focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The row of the field being typed in stands out (its label too, not only the field)."""
        for row in self.query(".field-row.-focused"):
            row.remove_class("-focused")
        parent = event.widget.parent
        if parent is not None and parent.has_class("field-row"):
            parent.add_class("-focused")

    # -- checking -----------------------------------------------------------------------
    def show_error(self, key: str | None, message: str) -> None:
        """`message` (in the form's words) under field `key`, or under the form (None)."""
        target = self.query_one(f"#{key}-error" if key else "#form-error", Static)
        target.update(form_words(message))
        target.display = bool(message)
        if message and key:
            target.scroll_visible()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self._show_result(event.input.id, event.validation_result)
        if event.input.id == "path":
            self.show_error("corpus", "")
            self.show_error("path", "")
            if event.value.strip():
                self.query_one("#corpus", Select).value = PATH_CHOICE
                self.check_path(event.value)

    @work(thread=True, exclusive=True, group="path", exit_on_error=False, description="looking at the corpus path")
    def check_path(self, text: str) -> None:
        problem = path_problem(text)  # a few stat calls: in a thread (a slow or hung disk never freezes the form)
        if not get_current_worker().is_cancelled:
            self.post_message(PathChecked(text, problem))

    def on_path_checked(self, message: PathChecked) -> None:
        if message.text == self.query_one("#path", Input).value:  # not typed on meanwhile
            self.show_error("path", message.problem)

    def _show_result(self, key: str, result: ValidationResult | None) -> None:
        ok = result is None or result.is_valid
        self.show_error(key, "" if ok else "; ".join(result.failure_descriptions))

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and event.value in BY_KEY:
            self._show_preset(BY_KEY[event.value])
            self.query_one("#preset-why").display = event.value == self.preset.key
        if event.select.id == "corpus":
            self.show_error("corpus", "")
        if event.select.id in CHOICES:
            self.show_error(event.select.id, "")

    def _show_preset(self, preset: Preset) -> None:
        """The preset's values in the fields the form has (the others, build_config takes from it),
        the notebook's where it sets none; its length in the epochs field when no budget is filled in."""
        notebook = TrainConfig()
        for name in PRESET_FIELDS:
            value = preset.values.get(name, getattr(notebook, name))
            if name in CHOICES:
                self.query_one(f"#{name}", Select).value = value
            elif name in SPECS:
                self.query_one(f"#{name}", Input).value = f"{value:g}" if isinstance(value, float) else str(value)
        budget = [self.query_one(f"#{name}", Input) for name in ("max_steps", "max_epochs", "max_minutes")]
        if preset.epochs is not None and not any(field.value.strip() for field in budget):
            budget[1].value = f"{preset.epochs:g}"

    def build_config(self) -> TrainConfig | None:
        """The config the form describes, or None (with the reasons shown on the fields)."""
        ok = True
        # What the chosen preset sets that the form has no field for (the optimizer, the cosine floor)
        preset = BY_KEY.get(str(self.query_one("#preset", Select).value))
        values: dict[str, Any] = {k: v for k, v in (preset.values if preset else {}).items()
                                  if k not in SPECS and k not in CHOICES}
        for spec in NUMBER_FIELDS:
            field_input = self.query_one(f"#{spec.name}", Input)
            result = field_input.validate(field_input.value)
            self._show_result(spec.name, result)
            if result is not None and not result.is_valid:
                ok = False
                continue
            values[spec.name] = spec.read(field_input.value)
        name_input = self.query_one("#name", Input)
        name_result = name_input.validate(name_input.value)
        self._show_result("name", name_result)
        ok = ok and (name_result is None or name_result.is_valid)
        path = self.query_one("#path", Input).value.strip()
        choice = self.query_one("#corpus", Select).value
        if path:
            corpus = str(Path(path).expanduser().resolve())
        elif choice == PATH_CHOICE:
            self.show_error("path", "give the path of a text file, or pick a named corpus above")
            return None
        else:
            corpus = str(choice)
        if not ok:
            return None
        for key in CHOICES:
            values[key] = self.query_one(f"#{key}", Select).value
        try:
            values["tensorboard"] = logdir_setting(self.query_one("#tensorboard", Input).value, "the TensorBoard folder")
        except WorkbenchError as exc:
            self.show_error("tensorboard", str(exc))
            return None
        try:
            return TrainConfig(corpus=corpus, **values).validate()
        except WorkbenchError as exc:
            self.show_error(self._field(field_for_message(str(exc))), str(exc))
            return None

    def _field(self, key: str | None) -> str | None:
        """Where a message about the corpus goes: under the path when one is typed."""
        if key == "corpus" and self.query_one("#path", Input).value.strip():
            return "path"
        return key

    # -- starting -----------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if not self.creating:
            self.dismiss()

    def action_start(self) -> None:
        if self.creating:
            return
        self.show_error(None, "")
        config = self.build_config()
        if config is None:
            self.notify("Some fields need fixing first: each says why.", severity="warning", timeout=4)
            return
        name = self.query_one("#name", Input).value.strip() or None
        self.creating = True
        self.query_one("#creating").display = True
        self.query_one("#start", Button).disabled = True
        self.create(config, name)

    @work(thread=True, exclusive=True, group="create", exit_on_error=False, description="creating the session")
    def create(self, config: TrainConfig, name: str | None) -> None:
        from workbench.engine.sessions.new_session import check_new_name, create_session, prepare_corpus

        try:
            if name:
                check_new_name(self.sessions_dir, name)
            config, corpus, notes = prepare_corpus(config, prime_given=False)
            session = create_session(self.sessions_dir, config, corpus, name)
        except CorpusError as exc:
            self.post_message(CreateFailed(str(exc), "corpus"))
        except WorkbenchError as exc:
            message = str(exc)
            key = "name" if name and name in message and "session" in message else field_for_message(message)
            self.post_message(CreateFailed(message, key))
        else:
            self.post_message(Created(session, notes))

    def on_create_failed(self, message: CreateFailed) -> None:
        self._done()
        key = self._field(message.field)
        self.show_error(key, message.error)  # whole: it may say where to put a file by hand
        if key:
            where = {"path": "the text file", "corpus": "the named corpus"}.get(key) or SPECS.get(key, key)
            self.show_error(None, f"not started: see the message under {getattr(where, 'word', where)} above")
        else:
            self.show_error(None, f"not started: {message.error}")
        # A short note only: at 80x24 a long toast covered the message on the form.
        self.notify("Not started: the form says why.", title="Could not create the session", severity="error",
                    timeout=4)

    def on_created(self, message: Created) -> None:
        self._done()
        for note in message.notes:
            self.notify(one_line(note, 300), title="Note", timeout=8)
        self.app.start_session(message.session)  # type: ignore[attr-defined]

    def _done(self) -> None:
        self.creating = False
        self.query_one("#creating").display = False
        self.query_one("#start", Button).disabled = False

    def on_worker_state_changed(self, event) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "create" and event.state.name == "ERROR":
            self._done()
