"""Two lines at the top of the training screen: what the session is doing and how far the run
is (the bar is the run's progress toward its budget; the epoch is a figure of its own), then how
fast, how long is left, and how good it is. Figures that are not live (paused, stalled) say so."""
from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widgets import Static

from workbench.engine.config import TrainConfig
from workbench.engine.formats import count, device_now, duration, loss_text
from workbench.engine.sessions.progress import run_progress, stalled_seconds
from workbench.engine.sessions.session import ACTIVE_STATES
from workbench.tui.shown import on_view
from workbench.tui.text import chars_per_sec, middle, one_line, state_word

REDRAW_SECONDS = 1.0
BAR_WIDTH = 20

STATE_STYLES = {
    "RUNNING": "bold $text-success",
    "PAUSED": "bold $text-warning",
    "STARTING": "bold $text-accent",
    "STOPPING": "bold $text-warning",
    "PAUSING": "bold $text-warning",
    "RESUMING": "bold $text-success",
    "FAILED": "bold $text-error",
}


def progress_bar(fraction: float, width: int) -> tuple[str, str]:
    """(done, todo) strings of a `width`-cell bar."""
    fraction = min(max(fraction, 0.0), 1.0)
    done = round(fraction * width)
    return "\u2501" * done, "\u2500" * (width - done)


def fit(parts: list[Content], width: int, gap: str = "  ") -> Content:
    """As many of `parts` (most important first) as fit in `width` cells, `gap` apart."""
    shown: list[Content] = []
    used = 0
    for part in parts:
        extra = part.cell_length + (len(gap) if shown else 0)
        if used + extra > width:
            break
        shown.append(part)
        used += extra
    return Content(gap).join(shown)


def progress_label(fraction: float, what: str, config: TrainConfig | None) -> str:
    """'79%', '40% of 10 min', '63% of 2 epochs'."""
    label = f"{fraction * 100:.0f}%"
    if config is not None and what == "minutes" and config.max_minutes:
        label += f" of {config.max_minutes:g} min"
    elif config is not None and what == "epochs" and config.max_epochs:
        label += f" of {config.max_epochs:g} epochs"
    return label


class StatusBar(Static):
    """Session, state, step, the run's progress, epoch, device; speed, ETA, best full
    validation, lr, |g|, parameters."""

    def __init__(self, session_name: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id)
        self.session_name = session_name
        self.status: dict[str, Any] = {}
        self.config: TrainConfig | None = None  # the run's budget (set by the screen)
        self.last: dict[str, Any] = {}  # the newest metrics record with a train loss
        self.state_override: str | None = None  # "starting" / "stopping", set by the screen
        self.launch_error: str | None = None  # the trainer could not be started
        self.unit = "nats"
        self._dirty = False

    def on_mount(self) -> None:
        self.set_interval(REDRAW_SECONDS, self._tick)
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def update_status(self, status: dict[str, Any] | None = None, metrics: list[dict[str, Any]] | None = None) -> None:
        """New figures are shown at the next tick (a few a second at most, however fast they
        come); a new state is shown at once."""
        before = self.state
        if status is not None:
            self.status = status
        for record in metrics or ():
            if "train_loss" in record:
                self.last = record
        if self.state != before:
            self.redraw()
        else:
            self._dirty = True

    def _tick(self) -> None:
        # While a trainer runs, the time since its last report (a stall) and a --minutes bar
        # move without any new figure.
        if self.status.get("state") == "running":
            self._dirty = True
        self.redraw_if_dirty()

    def redraw_if_dirty(self) -> None:
        if self._dirty and on_view(self):
            self.redraw()

    @property
    def state(self) -> str:
        """The state in one word; the screen's override wins while the trainer has not caught up."""
        real = self.status.get("state") or "created"
        if self.launch_error and real not in ACTIVE_STATES:
            return "failed"
        if self.state_override == "starting" and real in ("created", "stopped", "finished", "failed"):
            return "starting"
        if self.state_override == "stopping" and real in ACTIVE_STATES:
            return "stopping"
        if (self.state_override, real) in (("pausing", "running"), ("resuming", "paused")):
            return self.state_override  # a key was pressed; the trainer has not answered yet
        if self.status.get("suspended") and real in ACTIVE_STATES:
            return "suspended"  # SIGSTOP or Ctrl-Z: it answers nothing until SIGCONT
        return real

    @property
    def stalled(self) -> float | None:
        """Seconds since the running trainer last reported, when that is far longer than usual."""
        return stalled_seconds(self.status) if self.state == "running" else None

    def redraw(self) -> None:
        width = max(self.size.width, 20)
        error = (self.launch_error or self.status.get("error")) if self.state == "failed" else None
        tail = Content.styled(" " + one_line(f"error: {error}", 400), "$text-error") if error else self._figures(width)
        self._dirty = False
        self.update(Content("\n").join([self._head(width), tail]), layout=False)  # always two lines

    # -- the first line: where the run is ---------------------------------------------------
    def _epoch(self) -> float:
        epoch = self.last.get("epoch")
        if isinstance(epoch, (int, float)) and not isinstance(epoch, bool):
            return max(float(epoch), float(self.status.get("epoch") or 0))
        return float(self.status.get("epoch") or 0)

    def _head(self, width: int) -> Content:
        s = self.status
        word = state_word(self.state)
        step = max(s.get("step") or 0, self.last.get("step") or 0)
        total = s.get("total_steps")
        state = Content.styled(f" {word} ", f"reverse {STATE_STYLES.get(word, 'bold')}")
        steps = Content(f"step {step:,}" + (f"/{total:,}" if total else ""))
        epoch = Content(f"epoch {self._epoch():.2f}")
        done = run_progress(self.config, {**s, "step": step}) if self.config is not None else None
        label = Content(progress_label(*done, self.config)) if done else Content("")
        device = s.get("device")
        if device and s.get("shape"):  # a group: "2 x cpu, gloo, bf16"
            device = f"{s['shape']}, {str(device).split()[-1]}"
        else:
            device = device_now(device, s.get("threads"))  # re-chosen as the machine's load changes
        # The name gives way first (shortened in the middle), then the bar, then the device.
        rest = state.cell_length + steps.cell_length + label.cell_length + epoch.cell_length + 8
        rest += 11 if done else 0  # room kept for a short bar
        name = Content.styled(f" {middle(self.session_name, max(8, min(40, width - rest - 2)))} ", "bold")
        rest -= 11 if done else 0
        used = name.cell_length + rest
        parts = [name, Content(" "), state, Content("  "), steps]
        if done:
            bar_width = min(BAR_WIDTH, width - used - 1)
            if bar_width >= 4:
                filled, todo = progress_bar(done[0], bar_width)
                parts += [Content(" "), Content.assemble((filled, "$accent"), (todo, "$foreground-muted"))]
                used += bar_width + 1
            parts += [Content(" "), label]
        parts += [Content("  "), epoch]
        if device and used + len(str(device)) + 2 <= width:
            parts.append(Content.styled(f"  {one_line(str(device), 40)}", "$text-muted"))
        return Content.assemble(*parts)

    # -- the second line: how fast, how long, how good --------------------------------------
    def _figures(self, width: int) -> Content:
        s, last = self.status, self.last
        speed = s.get("chars_per_sec") or last.get("chars_per_sec")  # the trainer's median of recent intervals
        lr = s.get("lr") if isinstance(s.get("lr"), (int, float)) else last.get("lr")
        grad = last.get("grad_norm")
        live = [Content(chars_per_sec(speed))]
        quiet = self.stalled
        if self.state == "suspended":
            live = [Content.styled(f"the trainer is stopped by a signal: `kill -CONT {s.get('pid')}` lets it go on",
                                   "bold $text-warning")]
        elif self.state in ("paused", "pausing"):
            live = [Content.styled(f"paused ({chars_per_sec(speed)}, ETA {duration(s.get('eta_seconds'))} when "
                                   "resumed)", "$text-muted")]
        elif quiet is not None:
            usual = s.get("report_seconds")
            live.append(Content.styled(f"no step for {quiet:,.0f} s" +
                                       (f" (usually {usual:.0f} s)" if isinstance(usual, (int, float)) else ""),
                                       "bold $text-warning"))
        else:
            eta = s.get("eta_seconds") if self.state in ACTIVE_STATES else None
            live.append(Content(f"ETA {duration(eta)}"))
        parts = [*live, Content(f"best full val {loss_text(s.get('best_val_loss'), self.unit)}"),
                 Content(f"lr {lr:.2e}" if isinstance(lr, (int, float)) else "lr -"),
                 Content(f"|g| {grad:.2f}" if isinstance(grad, (int, float)) else "|g| -")]
        if s.get("params"):
            parts.append(Content(f"{count(s['params'])} params"))
        return Content(" ") + fit(parts, width - 1)
