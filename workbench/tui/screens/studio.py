"""The sample studio: draw text from any checkpoint of a session with any settings, streamed
into the panel as it is produced, several samples side by side, stopped at any time, saved.

It only reads checkpoint files, so it works on a session that is training elsewhere, and on a
CPU for a session trained on a GPU (checkpoints load onto the CPU first). torch is imported in
the worker threads, the first time a model is needed: opening the app never loads it."""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Input, Label, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from workbench.engine.config import SampleSettings
from workbench.engine.errors import WorkbenchError
from workbench.engine.infer.model_cache import ModelCache
from workbench.engine.sessions.session import Session
from workbench.engine.units import bits_per_char
from workbench.engine.export.user_files import output_target
from workbench.tui.messages import GenerationEnded, ModelReady, SampleChunk, SampleSaved
from workbench.tui.modals.path_prompt import PathModal
from workbench.tui.screens.base import KEYS_BINDING_F1, BaseScreen
from workbench.tui.screens.probe import ProbeScreen
from workbench.tui.text import one_line
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.sample_columns import SampleColumns
from workbench.tui.widgets.sample_fields import FIELD_LABELS, first_error, parse_fields, sample_fields

CHUNK_SECONDS = 0.05  # the generating thread posts what it has at most this often


def checkpoint_options(session: Session, wanted: str | None = None) -> list[tuple[str, str]]:
    """(label, value) for the checkpoint choice: latest, best, then every kept step, newest first."""
    steps = session.step_checkpoints()
    options = []
    if session.checkpoint_path("latest").exists() or steps:
        options.append(("latest", "latest"))
    if session.checkpoint_path("best").exists():
        options.append(("best", "best"))
    options += [(f"step {step:,}", str(step)) for step, _ in reversed(steps)]
    if wanted and wanted not in [v for _, v in options]:
        options.insert(0, (str(wanted), str(wanted)))  # loading it says what is wrong
    return options


def generated_text(num: int, chars: int, seconds: float) -> str:
    """'300 characters in 0.2 s (1,597 chars/s)', or for a batch '3 samples × 300 chars = 900 in
    0.2 s (4,791 chars/s)': `chars` is each sample's length, the speed is of all of them."""
    total = num * chars
    rate = f" ({total / seconds:,.0f} chars/s)" if seconds > 0 and total else ""
    if num > 1:
        return f"{num} samples \u00d7 {chars:,} chars = {total:,} in {seconds:.1f} s{rate}"
    return f"{chars:,} characters in {seconds:.1f} s{rate}"


# -- the screen --------------------------------------------------------------------------------
class StudioScreen(BaseScreen):
    BINDINGS = [
        KEYS_BINDING_F1,
        Binding("ctrl+g", "generate", "Generate", tooltip="Generate (again): enter in a field does it too",
                id="studio.generate"),
        Binding("escape", "stop", "Stop", tooltip="Stop generating", id="studio.stop"),
        Binding("escape", "back", "Back", tooltip="Back to the previous screen", id="studio.back"),
        Binding("ctrl+s", "save", "Save", tooltip="Save the sample to a file", id="studio.save"),
        Binding("ctrl+t", "probe", "Probe", tooltip="Next-character probe and surprisal of a passage",
                id="studio.probe"),
        Binding("f5", "reload", "Reload", tooltip="Reload the checkpoint list and the model (a newer latest)",
                id="studio.reload"),
    ]
    KEYS_TITLE = "Keys of the sample studio"
    ABOUT = ("enter in any field generates, as ctrl+g does. Each sample starts with the prime (underlined, and "
             "named in its title); the line at the bottom counts the characters as they come.")

    def __init__(self, session: Session, *, checkpoint: str = "latest", device: str = "cpu",
                 precision: str = "auto", quantize: str | None = None) -> None:
        super().__init__()
        self.session = session
        self.which = str(checkpoint)
        self.cache = ModelCache(session, device, precision, quantize)
        self.vocab: list[str] = []
        self.model_info: ModelReady | None = None
        self.generating = False
        self.run_id = 0
        self.last_run: dict[str, Any] = {}
        self.model_loading = False
        self.load_error: str | None = None
        self.inputs: dict[str, Input] = {}

    # -- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        try:
            sample = self.session.read_config().sample
        except WorkbenchError:
            sample = SampleSettings()
        try:  # only to check the prime as it is typed; the model brings its own copy
            self.vocab = self.session.read_vocab_file()
        except WorkbenchError:
            self.vocab = []
        self.inputs = sample_fields({
            "prime": sample.prime, "length": str(sample.length), "top_k": str(sample.top_k or ""),
            "top_p": f"{sample.top_p:g}" if sample.top_p else "", "temperature": f"{sample.temperature:g}",
            "seed": "", "num": "1"}, self.vocab)
        yield Static("", id="studio-title")
        with Horizontal(classes="studio-row"):
            yield Label("prime", classes="studio-label")
            yield self.inputs["prime"]
            yield Label("checkpoint", classes="studio-label")
            options = checkpoint_options(self.session, self.which)
            yield Select(options, value=self.which if options else Select.NULL, allow_blank=not options,
                         prompt="no checkpoint", compact=True, id="checkpoint")
        with Horizontal(classes="studio-row"):
            for key in ("length", "top_k", "top_p", "temperature", "seed", "num"):
                yield Label(FIELD_LABELS[key], classes="studio-label")
                yield self.inputs[key]
        yield Static("", id="studio-error", markup=False)
        yield SampleColumns(id="outputs")
        yield Static("", id="studio-info")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"studio: {self.session.name}"
        self.query_one("#studio-error").display = False
        self.inputs["prime"].focus()
        self._set_info("ctrl+g or enter generates; escape stops")
        if self.query_one("#checkpoint", Select).is_blank():
            self.load_error = f"session {self.session.name} has no checkpoint yet; train it first"
            self._draw_title()
        else:
            self.load_model_now()

    # -- the model -----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load", exit_on_error=False, description="loading the model")
    def load_model(self, which: str) -> None:
        model, vocab, info = self.cache.get(which)
        self.post_message(ModelReady(which, int(info["step"]), str(info["device"]), info.get("val_loss"),
                                     list(info.get("warnings") or []), info.get("quantized")))

    def load_model_now(self) -> None:
        self.model_loading, self.load_error = True, None
        self._draw_title()
        self.load_model(self.which)

    def on_model_ready(self, message: ModelReady) -> None:
        if message.which != self.which:
            return
        self.model_loading, self.load_error, self.model_info = False, None, message
        self._draw_title()
        for warning in message.warnings:
            self.notify(one_line(warning, 300), title="A checkpoint could not be read", severity="warning")
        if message.quantized:
            self.notify(message.quantized, title="int8 weights", timeout=20, markup=False)

    def _draw_title(self) -> None:
        parts: list[Any] = [("studio", "bold $text-accent"), "  ", (one_line(self.session.name, 40), "bold")]
        if self.load_error:
            parts += ["  ", (one_line(self.load_error, 200), "$text-error")]
        elif self.model_loading or self.model_info is None:
            parts += [f"  loading the {self.which} checkpoint..."]
        else:
            info = self.model_info
            label = f"step {self.which}" if self.which.isdigit() else f"{self.which} (step {info.step:,})"
            parts += [f"  {label}"]
            if isinstance(info.val_loss, (int, float)):
                parts += [f" \u00b7 val {bits_per_char(info.val_loss):.3f} bpc"]
            parts += [f" \u00b7 {info.device}"]
        self.query_one("#studio-title", Static).update(Content.assemble(*parts))

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "checkpoint" or event.value is Select.NULL or str(event.value) == self.which:
            return
        self.which = str(event.value)
        self.model_info = None
        self.load_model_now()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "load":
            self.model_loading = False
            self.load_error = str(event.worker.error)
            self._draw_title()
        elif event.worker.group == "generate" and self.generating:
            self.generating = False
            self._set_info(f"failed: {one_line(str(event.worker.error), 200)}")
            self.refresh_bindings()

    def on_screen_resume(self) -> None:
        self.inputs["prime"].validate(self.inputs["prime"].value)

    # -- fields --------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        error = first_error(self.inputs)
        widget = self.query_one("#studio-error", Static)
        widget.update(error)
        widget.display = bool(error)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_generate()

    def read_settings(self) -> tuple[SampleSettings, int, int | None] | None:
        """(settings, num, seed) from the fields, or None (the error is shown)."""
        error = first_error(self.inputs)
        widget = self.query_one("#studio-error", Static)
        widget.update(error)
        widget.display = bool(error)
        if error:
            return None
        v = parse_fields(self.inputs)
        settings = SampleSettings(length=v["length"], top_k=v["top_k"], top_p=v["top_p"],
                                  temperature=v["temperature"], prime=v["prime"])
        return settings, v["num"], v["seed"]

    # -- generating ----------------------------------------------------------------------
    def action_generate(self) -> None:
        parsed = self.read_settings()
        if parsed is None:
            self.notify("Fix the field shown in red first.", severity="warning", timeout=3)
            return
        if self.query_one("#checkpoint", Select).is_blank():
            self.notify(f"Session {self.session.name} has no checkpoint yet; train it first.", severity="warning")
            return
        settings, num, seed = parsed
        if seed is None:
            seed = random.randrange(2**31)  # drawn here, so the sample can be reproduced and named
        if self.generating:
            self._stop_worker()
        self.run_id += 1
        self.generating = True
        self.last_run = {"seed": seed, "num": num, "settings": settings, "which": self.which, "step": None,
                         "started": time.monotonic()}
        self.query_one(SampleColumns).start(settings.prime, num)
        self._set_info(self._progress_text() + (" (loading the model first)" if self.model_info is None else ""))
        self.refresh_bindings()
        self.generate(self.run_id, self.which, settings, num, seed)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False, description="generating text")
    def generate(self, run: int, which: str, settings: SampleSettings, num: int, seed: int) -> None:
        worker = get_current_worker()
        model, vocab, info = self.cache.get(which)
        if self.model_info is None or (self.model_info.which, self.model_info.device) != (which, info["device"]):
            self.post_message(ModelReady(which, int(info["step"]), str(info["device"]), info.get("val_loss"), []))
        from workbench.engine.infer.sampling import sample_stream

        started = time.monotonic()
        pending, produced, last = [""] * num, 0, started
        stream = sample_stream(model, vocab, settings, num=num, seed=seed)
        try:
            for pieces in stream:
                if worker.is_cancelled:
                    return
                pending = [a + b for a, b in zip(pending, pieces)]
                produced += len(pieces[0])
                now = time.monotonic()
                if now - last >= CHUNK_SECONDS:  # batched: one message per ~50 ms, not per character
                    self.post_message(SampleChunk(run, pending))
                    pending, last = [""] * num, now
        finally:
            stream.close()
        if any(pending):
            self.post_message(SampleChunk(run, pending))
        self.post_message(GenerationEnded(run, produced, time.monotonic() - started, int(info["step"])))

    def on_sample_chunk(self, message: SampleChunk) -> None:
        if message.run == self.run_id and self.generating:
            self.query_one(SampleColumns).append(message.pieces)
            self._set_info(self._progress_text())

    def _progress_text(self) -> str:
        """'generating 3 samples, seed 7: 4,500 of 20,000 characters each · escape stops'"""
        run = self.last_run
        num, length = run["num"], run["settings"].length
        done = self.query_one(SampleColumns).generated
        what = f"{num} samples" if num > 1 else "a sample"
        return (f"generating {what}, seed {run['seed']}: {done:,} of {length:,} characters"
                + (" each" if num > 1 else "") + " \u00b7 escape stops")

    def on_generation_ended(self, message: GenerationEnded) -> None:
        if message.run != self.run_id or not self.generating:
            return
        self.generating = False
        self.last_run["step"] = message.step
        columns = self.query_one(SampleColumns)
        columns.flush()
        self._set_info(f"seed {self.last_run['seed']} \u00b7 {generated_text(self.last_run['num'], message.chars, message.seconds)}"
                       " \u00b7 ctrl+s saves")
        self.refresh_bindings()

    def _stop_worker(self) -> None:
        self.workers.cancel_group(self, "generate")

    def action_stop(self) -> None:
        if not self.generating:
            return
        self._stop_worker()
        self.generating = False
        columns = self.query_one(SampleColumns)
        columns.flush()
        self._set_info(f"stopped after {columns.generated:,} characters \u00b7 seed {self.last_run.get('seed')} "
                       "\u00b7 ctrl+g generates again")
        self.refresh_bindings()

    def _set_info(self, text: str) -> None:
        self.query_one("#studio-info", Static).update(Content(text))

    # -- saving ---------------------------------------------------------------------------
    def default_save_path(self) -> Path:
        step = self.last_run.get("step")
        if step is None and self.model_info is not None:
            step = self.model_info.step
        stem = f"{self.session.name}-step{step if step is not None else 0}-seed{self.last_run.get('seed', 0)}"
        folder = self.session.root / "samples"
        path, n = folder / f"{stem}.txt", 2
        while path.exists():
            path, n = folder / f"{stem}-{n}.txt", n + 1
        return path

    def action_save(self) -> None:
        texts = self.query_one(SampleColumns).texts
        if not self.last_run or not any(texts):
            self.notify("Nothing to save yet: ctrl+g generates a sample.", severity="warning", timeout=3)
            return

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.save_sample(path, texts)

        what = f"these {len(texts)} samples" if len(texts) > 1 else "this sample"
        self.app.push_screen(PathModal(f"Save {what} to", self.default_save_path()), chosen)

    @work(thread=True, group="save", exit_on_error=False, description="saving the sample")
    def save_sample(self, path: Path, texts: list[str]) -> None:
        if len(texts) == 1:
            body = texts[0]
        else:
            body = "\n".join(f"--- sample {i}/{len(texts)} ---\n{t}" for i, t in enumerate(texts, 1))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # the default, samples/ in the session, is made here
        except OSError as exc:
            raise WorkbenchError(f"cannot make the folder {path.parent}: {(exc.strerror or str(exc)).lower()}") from None
        # The rules for any path a user names (engine/export/user_files.py): a link is followed, a
        # file keeps its mode, a device or a pipe is written into, never replaced.
        target = output_target(str(path), "the file", dash=False)
        target.write_text(body if body.endswith("\n") else body + "\n")
        self.post_message(SampleSaved(target.shown))

    def on_sample_saved(self, message: SampleSaved) -> None:
        self.notify(f"Saved to {one_line(message.path, 200)}", timeout=5)

    # -- elsewhere ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.generating
        if action == "back":
            return not self.generating
        if action == "save":
            return bool(self.last_run) or None
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        select = self.query_one("#checkpoint", Select)
        options = checkpoint_options(self.session, None)
        self.cache.forget()
        self.model_info = None
        with select.prevent(Select.Changed):
            select.set_options(options)
            if options:
                values = [v for _, v in options]
                self.which = self.which if self.which in values else values[0]
                select.value = self.which
        if not options:
            self.load_error = f"session {self.session.name} has no checkpoint yet; train it first"
            self._draw_title()
            return
        self.load_model_now()

    def action_probe(self) -> None:
        if self.query_one("#checkpoint", Select).is_blank():
            self.notify(f"Session {self.session.name} has no checkpoint yet; train it first.", severity="warning")
            return
        values = {key: self.inputs[key].value for key in ("top_k", "top_p", "temperature")}
        self.app.push_screen(ProbeScreen(self.session, self.cache, self.which, self.vocab,
                                         prime=self.inputs["prime"].value, **values))
