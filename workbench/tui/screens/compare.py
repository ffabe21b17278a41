"""Comparing runs: their loss curves overlaid in one chart (x in steps, epochs, characters seen
or wall time) and their settings side by side, the differences highlighted. A thread follows
each session's folder, so runs still training keep drawing."""
from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.follow import SessionFollower
from workbench.engine.sessions.session import Session
from workbench.tui.messages import RunRecords, RunsDescribed
from workbench.tui.screens.base import BaseScreen
from workbench.engine.units import bits_per_char
from workbench.tui.text import middle, one_line
from workbench.tui.widgets.compare_chart import XLABELS, CompareChart
from workbench.tui.widgets.key_footer import KeyFooter

POLL_SECONDS = 2.0
HIGHLIGHT = "bold $text-warning"
STATUS_KEYS = ("state", "steps", "best val (bpc)")  # how the run stands, not how it was set up: shown, never highlighted
VALUE_CELLS = 40  # a longer value (a corpus path) is shortened in the middle: its file name stays
# The settings in words (config.json's keys are the rows' keys); a key not named here (a newer
# version's) is shown with its underscores as spaces.
LABELS = {
    "best val (bpc)": "best full val (bpc)", "corpus name": "corpus name", "corpus": "corpus file or name",
    "keep_crlf": "keep CRLF line ends", "val_frac": "validation fraction", "hidden": "hidden units",
    "batch_size": "batch size", "seq_length": "sequence length", "lr": "learning rate", "weight_decay": "weight decay",
    "warmup_steps": "warmup steps", "min_lr_frac": "cosine floor (of lr)", "decay_rate": "decay rate per epoch",
    "decay_after": "decay after (epochs)", "clip": "gradient clip", "dist_timeout": "group timeout (s)",
    "max_restarts": "group restarts", "log_every": "log every (steps)", "eval_every": "estimate val every",
    "eval_batches": "estimate batches", "checkpoint_every": "checkpoint every", "sample_every": "sample every",
    "keep_last": "step checkpoints kept", "explosion_guard": "explosion guard", "max_steps": "steps (target)",
    "max_epochs": "epochs (target)", "max_minutes": "minutes (per run)", "tensorboard": "TensorBoard folder",
    "sample.length": "sample length", "sample.top_k": "sample top-k", "sample.top_p": "sample top-p",
    "sample.temperature": "sample temperature", "sample.prime": "sample prime",
}


def setting_label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").replace(".", " ")


def flat_settings(session: Session) -> dict[str, Any]:
    """'lr': 0.001, 'sample.top_k': 5, ... with the run's state first."""
    out: dict[str, Any] = {}
    summary = session.summary()
    out["state"] = summary.get("state")
    out["steps"] = summary.get("steps")
    best = summary.get("best_val_loss")
    out["best val (bpc)"] = round(bits_per_char(best), 4) if isinstance(best, (int, float)) else None
    out["corpus name"] = summary.get("corpus")
    try:
        config = session.read_config().to_dict()
    except WorkbenchError as exc:
        out["config"] = str(exc)
        return out
    for key, value in config.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                out[f"{key}.{sub}"] = inner
        else:
            out[key] = value
    return out


def show_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return middle(str(value), VALUE_CELLS)


class CompareScreen(BaseScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the session list", id="compare.back"),
        Binding("x", "cycle_x", "X axis", tooltip="X axis: steps, epochs, characters seen, wall time", id="compare.x"),
        Binding("t", "toggle_train", "Train", tooltip="Show or hide the training loss curves", id="compare.train"),
        Binding("u", "toggle_units", "Units", tooltip="Loss in nats or bits per character", id="compare.units"),
        Binding("d", "toggle_diff", "Diff only", tooltip="Show only the settings that differ, or all", id="compare.diff"),
    ]
    KEYS_TITLE = "Keys of the run comparison"

    def __init__(self, sessions: list[Session]) -> None:
        super().__init__()
        self.sessions = sessions
        self.settings: dict[str, dict[str, Any]] = {}
        self.differing: set[str] = set()
        self.diff_only = False

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-title")
        yield CompareChart(id="compare-chart")
        yield DataTable(id="compare-settings", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "compare"
        self._draw_title()
        self.follow()

    def _draw_title(self) -> None:
        chart = self.query_one(CompareChart)
        names = ", ".join(one_line(s.name, 30) for s in self.sessions)
        parts: list[Any] = [("compare", "bold $text-accent"), "  ", (names, "bold"), f"  \u00b7 x: {XLABELS[chart.xmode]}"]
        if self.differing:
            parts += ["  \u00b7 ", (f"{len(self.differing)} settings differ", HIGHLIGHT)]
        self.query_one("#compare-title", Static).update(Content.assemble(*parts))

    # -- data --------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, description="reading the runs")
    def follow(self) -> None:
        worker = get_current_worker()
        settings, chars = {}, {}
        for session in self.sessions:
            settings[session.name] = flat_settings(session)
            try:
                config = session.read_config()
                chars[session.name] = config.batch_size * config.seq_length
            except WorkbenchError:
                chars[session.name] = 0
        self.post_message(RunsDescribed(settings, chars))
        followers = [SessionFollower(s) for s in self.sessions]
        while not worker.is_cancelled:
            found: dict[str, tuple[list[dict[str, Any]], bool]] = {}
            for session, follower in zip(self.sessions, followers):
                try:
                    update = follower.poll()
                except OSError:
                    continue
                if update.metrics or update.reset:
                    found[session.name] = (list(update.metrics), update.reset)
            if found:
                self.post_message(RunRecords(found))
            worker.cancelled_event.wait(POLL_SECONDS)

    def on_runs_described(self, message: RunsDescribed) -> None:
        self.settings = message.settings
        chart = self.query_one(CompareChart)
        for name, per_step in message.chars_per_step.items():
            chart.set_run(name, per_step)
        self._fill_table()

    def on_run_records(self, message: RunRecords) -> None:
        chart = self.query_one(CompareChart)
        for name, (records, reset) in message.records.items():
            chart.add_records(name, records, reset)
        chart.replot()

    # -- the settings table ----------------------------------------------------------------
    def _fill_table(self) -> None:
        names = [s.name for s in self.sessions]
        keys: list[str] = []
        for name in names:
            keys += [k for k in self.settings.get(name, {}) if k not in keys]
        self.differing = {k for k in keys if k not in STATUS_KEYS and len({repr(self.settings.get(n, {}).get(k)) for n in names}) > 1}
        rows = []
        for key in keys:
            if self.diff_only and key not in self.differing and key not in STATUS_KEYS:
                continue
            style = HIGHLIGHT if key in self.differing else ""
            rows.append((key, [Content.styled(setting_label(key), style)] +
                         [Content.styled(show_value(self.settings.get(n, {}).get(key)), style) for n in names]))
        labels = ["setting"] + [middle(name, 30) for name in names]
        # Fixed widths, measured here (as the home screen does: DataTable's own can lag behind).
        widths = [max([len(label), *(cells[i].cell_length for _, cells in rows)]) for i, label in enumerate(labels)]
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for label, key, width in zip(labels, ["setting", *names], widths):
            table.add_column(Content(label), key=key, width=width)  # a Content: never read as markup
        for key, cells in rows:
            table.add_row(*cells, key=key)
        self._draw_title()

    def cell(self, key: str, name: str) -> Content:
        """The table's cell for setting `key` of run `name` (for tests)."""
        return self.query_one(DataTable).get_cell(key, name)

    # -- actions -------------------------------------------------------------------------
    def action_cycle_x(self) -> None:
        self.query_one(CompareChart).cycle_x()
        self._draw_title()

    def action_toggle_train(self) -> None:
        self.query_one(CompareChart).toggle_train()

    def action_toggle_units(self) -> None:
        chart = self.query_one(CompareChart)
        chart.set_unit("bits" if chart.unit == "nats" else "nats")

    def action_toggle_diff(self) -> None:
        self.diff_only = not self.diff_only
        self._fill_table()
        if self.diff_only and not self.differing:
            self.notify("These runs have the same settings.", timeout=3)

    def action_back(self) -> None:
        self.app.pop_screen()
