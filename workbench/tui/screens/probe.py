"""Inside the model: the next-character distribution after a prime (updated as the prime is
typed; up and down pick a row, enter appends its character, from the prime field itself), and a
passage coloured by how surprising the model finds each character, with its mean bits per
character (a file path typed in the file field loads it; one typed into the passage box by
mistake is loaded too, never scored as text).

Both are computed by `workbench.engine.infer.probe` (the functions `workbench probe` and `workbench
score` call) in thread workers, on the studio's model, after a short pause in the typing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Input, Label, OptionList, Static, TabbedContent, TabPane, TextArea

from workbench.engine.corpus.encode import describe_unknown
from workbench.engine.corpus.text import read_text
from workbench.engine.infer.model_cache import ModelCache
from workbench.engine.infer.probe import next_char_distribution, sampling_cut, score_text
from workbench.engine.sessions.session import Session
from workbench.engine.units import LN2
from workbench.tui.messages import PassageIsPath, PassageLoaded, ProbeResult, SurprisalResult
from workbench.tui.screens.base import KEYS_BINDING_F1, BaseScreen
from workbench.tui.text import one_line
from workbench.tui.widgets.sample_fields import FIELD_LABELS, first_error, parse_fields, sample_fields
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.prob_bars import ProbBars, char_label
from workbench.tui.widgets.surprisal_view import SurprisalView, legend

PROBE_DEBOUNCE = 0.15  # seconds of quiet typing before the distribution is recomputed
PASSAGE_DEBOUNCE = 0.4
MAX_PASSAGE = 50_000  # characters of a passage scored and coloured here (`workbench score` takes any length)
SURPRISAL_HINT = ("Type a file path in the file field and press enter, or tab to the box and paste or type a "
                  "passage: each character is coloured by how surprising the model finds it.")


def looks_like_path(text: str) -> Path | None:
    """The file a passage names when the whole passage is one line naming an existing file (a
    path typed into the passage box); else None. Stats a file: call it from a thread."""
    line = text.strip()
    if not line or "\n" in line or len(line) > 4096:
        return None
    path = Path(line).expanduser()
    try:
        return path if path.is_file() else None
    except OSError:
        return None


class ProbeScreen(BaseScreen):
    BINDINGS = [
        KEYS_BINDING_F1,
        Binding("escape", "back", "Back", tooltip="Back to the studio", id="probe.back"),
        Binding("ctrl+t", "switch", "Switch", tooltip="Switch between the next-character probe and the surprisal view",
                id="probe.switch"),
        Binding("ctrl+g", "score", "Score", tooltip="Score the passage now", id="probe.score"),
        # From any field of the next-character tab (an Input takes up and down for itself, so
        # these come first): the bars' highlight moves, and enter in the prime appends its character.
        Binding("down", "pick(1)", "Next row", tooltip="Highlight the next character", show=False, id="probe.down",
                priority=True),
        Binding("up", "pick(-1)", "Previous row", tooltip="Highlight the previous character", show=False,
                id="probe.up", priority=True),
    ]
    KEYS_TITLE = "Keys of the probe"

    def __init__(self, session: Session, cache: ModelCache, which: str, vocab: list[str], *, prime: str = "",
                 top_k: str = "", top_p: str = "", temperature: str = "1") -> None:
        super().__init__()
        self.session, self.cache, self.which, self.vocab = session, cache, which, vocab
        self.initial = {"prime": prime, "top_k": top_k, "top_p": top_p, "temperature": temperature}
        self.inputs: dict[str, Input] = {}
        self.result: ProbeResult | None = None
        self.surprisal: SurprisalResult | None = None
        self.step: int | None = None
        self._probe_timer: Timer | None = None
        self._passage_timer: Timer | None = None
        self._notes: list[str] = []
        self._shown: ProbeResult | None = None

    # -- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self.inputs = sample_fields(self.initial, self.vocab)
        yield Static("", id="probe-title")
        with TabbedContent(id="probe-tabs"):
            with TabPane("Next character", id="next-tab"):
                with Horizontal(classes="studio-row"):
                    yield Label("prime", classes="studio-label")
                    yield self.inputs["prime"]
                with Horizontal(classes="studio-row"):
                    for key in ("top_k", "top_p", "temperature"):
                        yield Label(FIELD_LABELS[key], classes="studio-label")
                        yield self.inputs[key]
                yield Static("", id="probe-summary")
                yield ProbBars(id="bars")
            with TabPane("Surprisal", id="surprisal-tab"):
                with Horizontal(classes="studio-row"):
                    yield Label("file", classes="studio-label")
                    yield Input(id="passage-path", compact=True, placeholder="path of a text file; enter loads it")
                yield TextArea(id="passage", soft_wrap=True, placeholder="paste or type a passage here")
                yield Static(SURPRISAL_HINT, id="surprisal-summary", markup=False)
                yield SurprisalView(id="surprisal")
                yield Static(legend(), id="surprisal-legend")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"probe: {self.session.name}"
        self._draw_title()
        self.inputs["prime"].focus()
        self.inputs["prime"].cursor_position = len(self.inputs["prime"].value)
        self._prime_changed()

    def _draw_title(self) -> None:
        label = f"step {self.which}" if self.which.isdigit() else self.which
        if self.step is not None and not self.which.isdigit():
            label += f" (step {self.step:,})"
        self.query_one("#probe-title", Static).update(Content.assemble(
            ("probe", "bold $text-accent"), "  ", (one_line(self.session.name, 40), "bold"), f"  {label}"))

    # -- the next character ---------------------------------------------------------------
    @property
    def prime(self) -> str:
        return self.inputs["prime"].value

    def on_input_changed(self, event: Input.Changed) -> None:
        key = event.input.id
        if key == "prime":
            self._prime_changed()
        elif key in ("top_k", "top_p", "temperature"):
            self._draw_summary()

    def _prime_changed(self) -> None:
        if self._probe_timer is not None:
            self._probe_timer.stop()
        self._draw_summary()
        if not first_error({"prime": self.inputs["prime"]}):
            self._probe_timer = self.set_timer(PROBE_DEBOUNCE, lambda: self.probe(self.prime))

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False, description="computing the next-character distribution")
    def probe(self, prime: str) -> None:
        model, vocab, info = self.cache.get(self.which)
        self.post_message(ProbeResult(prime, next_char_distribution(model, vocab, prime), int(info["step"])))

    def on_probe_result(self, message: ProbeResult) -> None:
        if message.prime != self.prime:
            return  # typed on meanwhile: a newer one is coming
        self.result = message
        if self.step != message.step:
            self.step = message.step
            self._draw_title()
        self._draw_summary()

    def cut(self) -> tuple[int, str] | None:
        """How many characters the sampler can draw now, and the settings in words."""
        fields = {k: self.inputs[k] for k in ("top_k", "top_p", "temperature")}
        if first_error(fields) or self.result is None:
            return None
        v = parse_fields(fields)
        kept = sampling_cut([p for _, p in self.result.probs], v["top_k"], v["top_p"], v["temperature"])
        words = [f"top-k {v['top_k']}" if v["top_k"] else "", f"top-p {v['top_p']:g}" if v["top_p"] else "",
                 f"T {v['temperature']:g}"]
        return kept, ", ".join(w for w in words if w)

    def _draw_summary(self) -> None:
        summary, bars = self.query_one("#probe-summary", Static), self.query_one(ProbBars)
        error = first_error(self.inputs)
        if error:
            summary.update(Content.styled(error, "$text-error"))
            return
        cut = self.cut()
        if self.result is None or cut is None:
            summary.update(Content("computing..."))
            return
        kept, words = cut
        if self._shown is not self.result:
            bars.show(self.result.probs, kept)
            self._shown = self.result
        else:
            bars.set_kept(kept)
        mass = sum(p for _, p in self.result.probs[:kept])
        stale = " (updating...)" if self.result.prime != self.prime else ""
        summary.update(Content.assemble(
            f"after \u201c{one_line(self.result.prime[-30:], 30)}\u201d{stale}: ", ("\u25cf", "bold $text-success"),
            f" {kept} of {len(self.result.probs)} characters can be drawn ({words}), {mass * 100:.1f}% "
            "of the probability \u00b7 \u2191\u2193 pick a character, enter appends it"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        bars = self.query_one(ProbBars)
        if event.option_list is bars and bars.probs:
            self._append(event.option_index)

    def action_pick(self, delta: int) -> None:
        bars = self.query_one(ProbBars)
        if bars.option_count:
            bars.highlighted = min(max((bars.highlighted or 0) + delta, 0), bars.option_count - 1)

    def _append(self, index: int) -> None:
        bars = self.query_one(ProbBars)
        ch = bars.char_at(index)
        prime = self.inputs["prime"]
        prime.value = prime.value + ch
        prime.cursor_position = len(prime.value)
        self.notify(f"appended {char_label(ch)}", timeout=1.5)

    # -- surprisal -------------------------------------------------------------------------
    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if self._passage_timer is not None:
            self._passage_timer.stop()
        self._passage_timer = self.set_timer(PASSAGE_DEBOUNCE, self.action_score)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "passage-path":
            path = event.value.strip()
            if path:
                self.load_passage(path)
        elif event.input.id == "prime":
            bars = self.query_one(ProbBars)
            if self.result is not None and self.result.prime == self.prime and bars.probs:
                self._append(bars.highlighted or 0)  # as the hint says: enter appends the highlighted one
            else:
                self._prime_changed()

    @work(thread=True, exclusive=True, group="passage", exit_on_error=False, description="reading the passage")
    def load_passage(self, path: str) -> None:
        text, notes = read_text(path)
        if len(text) > MAX_PASSAGE:
            notes.append(f"only the first {MAX_PASSAGE:,} of {len(text):,} characters are shown and scored "
                         f"(`workbench score {self.session.name} FILE` scores all of it)")
            text = text[:MAX_PASSAGE]
        self.post_message(PassageLoaded(path, text, notes))

    def on_passage_is_path(self, message: PassageIsPath) -> None:
        path_input = self.query_one("#passage-path", Input)
        path_input.value = message.path
        path_input.focus()
        self.notify(f"{message.path} is a file: loading it (the file field takes paths)", timeout=4)
        self.load_passage(message.path)

    def on_passage_loaded(self, message: PassageLoaded) -> None:
        self._notes = message.notes
        self.query_one("#passage", TextArea).load_text(message.text)
        self.notify(f"Loaded {one_line(message.path, 100)} ({len(message.text):,} characters)", timeout=3)

    def action_score(self) -> None:
        text = self.query_one("#passage", TextArea).text
        summary = self.query_one("#surprisal-summary", Static)
        if len(text) > MAX_PASSAGE:
            text = text[:MAX_PASSAGE]
        if len(text) < 2:
            summary.update("Type at least two characters: the first is only context, the rest are scored.")
            self.query_one(SurprisalView).reset()
            return
        summary.update("scoring...")
        self.score(text)

    @work(thread=True, exclusive=True, group="score", exit_on_error=False, description="scoring the passage")
    def score(self, text: str) -> None:
        path = looks_like_path(text)
        if path is not None:  # a path typed into the passage box: load that file instead of scoring its name
            self.post_message(PassageIsPath(str(path)))
            return
        model, vocab, info = self.cache.get(self.which)
        s = score_text(model, vocab, text, skip_unknown=True)
        self.post_message(SurprisalResult(text, s.bits, s.mean_bits, s.scored, s.unknown))

    def on_surprisal_result(self, message: SurprisalResult) -> None:
        current = self.query_one("#passage", TextArea).text[:MAX_PASSAGE]
        if message.text != current:
            return
        self.surprisal = message
        self.query_one(SurprisalView).show(message.text, message.bits, set(message.unknown))
        parts: list[Any] = [("mean ", "bold"), (f"{message.mean_bits:.4f} bits/char", "bold $text-accent"),
                            f" ({message.mean_bits * LN2:.4f} nats) over {message.scored:,} predicted characters"]
        if message.unknown:
            count = sum(message.unknown.values())
            parts += ["  ", (f"{count:,} character(s) outside the vocabulary (marked) were left out: "
                             f"{describe_unknown(sorted(message.unknown), 4)}", "$text-warning")]
        for note in self._notes:
            parts += ["  ", (one_line(note, 120), "$text-muted")]
        self.query_one("#surprisal-summary", Static).update(Content.assemble(*parts))

    # -- elsewhere ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        tabs = self.query(TabbedContent)
        surprisal = bool(tabs) and tabs.first().active == "surprisal-tab"  # before it is set: the first tab
        if action == "score":
            return surprisal
        if action == "pick":
            return not surprisal
        return True

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()

    def action_switch(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == "next-tab":
            tabs.active = "surprisal-tab"
            self.query_one("#passage-path", Input).focus()  # as the hint says: a path first, or tab to the box
        else:
            tabs.active = "next-tab"
            self.inputs["prime"].focus()
        self.refresh_bindings()

    def action_back(self) -> None:
        self.app.pop_screen()
