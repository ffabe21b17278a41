"""The new-session form: a corpus, a model, how to train it and for how long.

Every field is checked as it is typed, with the engine's own rules and messages
(TrainConfig.validate), and the whole config again on Start. Loading the corpus can take a
moment (or download it), so the session is created in a thread worker; an engine error (a
missing file, a corpus too small for the batch) lands on the form, next to its field.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.validation import ValidationResult
from textual.widgets import Button, Footer, Input, Label, LoadingIndicator, Select, Static

from workbench.engine.config import CELLS, DEVICES, PRECISIONS, SCHEDULES, TrainConfig
from workbench.engine.errors import CorpusError, WorkbenchError
from workbench.engine.gpus import process_choices
from workbench.engine.session import check_name
from workbench.engine.tensorboard_log import logdir_setting
from workbench.tui.messages import Created, CreateFailed
from workbench.tui.modals.prompt import EngineCheck
from workbench.tui.screens.base import BaseScreen
from workbench.tui.text import one_line

PATH_CHOICE = "__path__"

PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "small": ("small, for a CPU: lstm 128x2, batch 32, seq 64",
              dict(cell="lstm", hidden=128, layers=2, dropout=0.2, batch_size=32, seq_length=64, lr=0.002)),
    "notebook": ("the notebook's: lstm 512x2, batch 128, seq 100",
                 dict(cell="lstm", hidden=512, layers=2, dropout=0.5, batch_size=128, seq_length=100, lr=0.001)),
    "large": ("large, for a GPU: lstm 1024x3, batch 256, seq 128",
              dict(cell="lstm", hidden=1024, layers=3, dropout=0.5, batch_size=256, seq_length=128, lr=0.001)),
}


@dataclass(frozen=True)
class Spec:
    """One TrainConfig field in the form."""

    name: str
    label: str
    parse: Callable[[str], Any]
    optional: bool = False  # blank means None

    def read(self, text: str) -> Any:
        text = text.strip()
        if self.optional and not text:
            return None
        return self.parse(text)


def _int(text: str) -> int:
    return int(text.replace("_", "").replace(",", ""))


NUMBER_FIELDS = [
    Spec("hidden", "hidden units", _int),
    Spec("layers", "layers", _int),
    Spec("dropout", "dropout", float),
    Spec("batch_size", "batch size", _int),
    Spec("seq_length", "sequence length", _int),
    Spec("lr", "learning rate", float),
    Spec("clip", "gradient clip (0 off)", float),
    Spec("seed", "seed", _int),
    Spec("max_steps", "steps (blank: no limit)", _int, optional=True),
    Spec("max_epochs", "epochs (blank: no limit)", float, optional=True),
    Spec("max_minutes", "minutes (blank: no limit)", float, optional=True),
    Spec("log_every", "log every (steps)", _int),
    Spec("eval_every", "estimate val every (0 off)", _int),
    Spec("checkpoint_every", "checkpoint every (0: end only)", _int),
    Spec("sample_every", "sample every (0 off)", _int),
]
SPECS = {s.name: s for s in NUMBER_FIELDS}
SECTIONS = [
    ("Model", ["hidden", "layers", "dropout"]),
    ("Optimisation", ["batch_size", "seq_length", "lr", "clip", "seed"]),
    ("Budget (the first reached ends the run)", ["max_steps", "max_epochs", "max_minutes"]),
    ("Monitoring", ["log_every", "eval_every", "checkpoint_every", "sample_every"]),
]
# The engine names fields by their command-line flag; this maps a flag back to a form field.
FLAG_FIELDS = {"--steps": "max_steps", "--epochs": "max_epochs", "--minutes": "max_minutes", "--corpus": "corpus",
               "--prime": "corpus"}


def field_for_message(message: str) -> str | None:
    """The form field an engine message is about ('--lr must be ...' -> 'lr'), if any."""
    flag = message.split(" ", 1)[0].rstrip(":")
    if not flag.startswith("--"):
        return None
    name = FLAG_FIELDS.get(flag, flag[2:].replace("-", "_"))
    name = {"nproc": "processes"}.get(name, name)
    return name if name in SPECS or name in ("cell", "device", "precision", "schedule", "corpus", "processes") else None


def check_field(name: str, value: Any) -> None:
    """TrainConfig's own check of one field (the others at their defaults)."""
    base = TrainConfig()
    if name == "max_steps" or name == "max_epochs":
        base = replace(base, schedule="constant")
    replace(base, **{name: value}).validate()


class NewSessionScreen(BaseScreen):
    BINDINGS = [
        Binding("ctrl+s", "start", "Start training", tooltip="Create the session and start training",
                id="new.start"),
        Binding("escape", "cancel", "Cancel", tooltip="Back to the session list", id="new.cancel"),
    ]

    def __init__(self, sessions_dir: Path) -> None:
        super().__init__()
        self.sessions_dir = Path(sessions_dir)
        self.creating = False

    # -- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        from workbench.corpora.catalog import listing

        d = TrainConfig()
        corpora = listing()
        options = []
        for c in corpora:
            where = "built-in" if c["builtin"] else ("cached" if c["cached"] else "will download")
            options.append((f"{c['name']}: {c['title']} ({where})", c["name"]))
        options.append(("a text file: the path below", PATH_CHOICE))
        default = next((c["name"] for c in corpora if c["cached"]), d.corpus)
        with VerticalScroll(id="form"):
            yield Static(Content.assemble(("New training session", "bold $text-accent"),
                                          "   tab: next field, ctrl+s: start, esc: cancel"), classes="form-title")
            yield Static("Corpus", classes="section")
            yield self._row("corpus", "named corpus",
                            Select(options, value=default, allow_blank=False, id="corpus", compact=True))
            yield self._row("path", "or a text file",
                            Input(placeholder="path of a UTF-8 text file (used when filled in)", id="path",
                                  compact=True))
            yield self._row("name", "session name",
                            Input(placeholder="blank: corpus-model-date", id="name", compact=True,
                                  validators=[EngineCheck(str, lambda v: v and check_name(v), "a name")]))
            yield Static("Preset", classes="section")
            yield self._row("preset", "preset", Select([(label, key) for key, (label, _) in PRESETS.items()],
                                                       value="notebook", allow_blank=False, id="preset", compact=True))
            yield self._row("cell", "cell", Select([(c, c) for c in CELLS], value=d.cell, allow_blank=False,
                                                   id="cell", compact=True))
            for title, names in SECTIONS:
                yield Static(title, classes="section")
                for name in names:
                    yield self._number_row(SPECS[name], getattr(d, name))
                if title == "Optimisation":
                    yield self._row("schedule", "schedule", Select([(s, s) for s in SCHEDULES], value=d.schedule,
                                                                   allow_blank=False, id="schedule", compact=True))
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
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Start training (ctrl+s)", variant="primary", id="start", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            yield LoadingIndicator(id="creating")
        yield Footer()

    def _row(self, key: str, label: str, widget) -> Vertical:
        return Vertical(Horizontal(Label(label, classes="field-label"), widget, classes="field-row"),
                        Static("", id=f"{key}-error", classes="field-error", markup=False),
                        classes="field")

    def _number_row(self, spec: Spec, default: Any) -> Vertical:
        text = "" if default is None else f"{default:g}" if isinstance(default, float) else str(default)
        check = EngineCheck(spec.read, lambda v, n=spec.name: check_field(n, v),
                            "a whole number" if spec.parse is _int else "a number")
        return self._row(spec.name, spec.label, Input(text, id=spec.name, compact=True, validators=[check],
                                                      valid_empty=spec.optional))

    def on_mount(self) -> None:
        self.query_one("#creating").display = False
        self.query_one("#form-error").display = False
        for error in self.query(".field-error"):
            error.display = False
        self.query_one("#corpus").focus()

    # -- checking -----------------------------------------------------------------------
    def show_error(self, key: str | None, message: str) -> None:
        target = self.query_one(f"#{key}-error" if key else "#form-error", Static)
        target.update(message)
        target.display = bool(message)
        if message and key:
            target.scroll_visible()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self._show_result(event.input.id, event.validation_result)
        if event.input.id == "path":
            self.show_error("corpus", "")
            if event.value.strip():
                self.query_one("#corpus", Select).value = PATH_CHOICE

    def _show_result(self, key: str, result: ValidationResult | None) -> None:
        ok = result is None or result.is_valid
        self.show_error(key, "" if ok else "; ".join(result.failure_descriptions))

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and event.value in PRESETS:
            for name, value in PRESETS[event.value][1].items():
                if name == "cell":
                    self.query_one("#cell", Select).value = value
                else:
                    self.query_one(f"#{name}", Input).value = f"{value:g}" if isinstance(value, float) else str(value)
        if event.select.id == "corpus":
            self.show_error("corpus", "")
        if event.select.id in ("device", "precision", "schedule", "cell", "processes"):
            self.show_error(event.select.id, "")

    def build_config(self) -> TrainConfig | None:
        """The config the form describes, or None (with the reasons shown on the fields)."""
        ok = True
        values: dict[str, Any] = {}
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
            self.show_error("corpus", "give the path of a text file, or pick a named corpus")
            return None
        else:
            corpus = str(choice)
        if not ok:
            return None
        for key in ("cell", "schedule", "device", "precision", "processes"):
            values[key] = self.query_one(f"#{key}", Select).value
        try:
            values["tensorboard"] = logdir_setting(self.query_one("#tensorboard", Input).value, "the TensorBoard folder")
        except WorkbenchError as exc:
            self.show_error("tensorboard", str(exc))
            return None
        config = TrainConfig(corpus=corpus, **values)
        try:
            return config.validate()
        except WorkbenchError as exc:
            self.show_error(field_for_message(str(exc)), str(exc))
            return None

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
            self.notify("Some fields need fixing first.", severity="warning", timeout=4)
            return
        name = self.query_one("#name", Input).value.strip() or None
        self.creating = True
        self.query_one("#creating").display = True
        self.query_one("#start", Button).disabled = True
        self.create(config, name)

    @work(thread=True, exclusive=True, group="create", exit_on_error=False, description="creating the session")
    def create(self, config: TrainConfig, name: str | None) -> None:
        from workbench.engine.new_session import check_new_name, create_session, prepare_corpus

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
        self.show_error(message.field, message.error)
        if message.field:
            self.show_error(None, f"not started: {one_line(message.error, 300)}")
        self.notify(one_line(message.error, 300), title="Could not create the session", severity="error", timeout=10)

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
