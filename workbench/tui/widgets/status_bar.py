"""Two lines at the top of the training screen: what the session is doing, and how fast."""
from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widgets import Static

from workbench.tui.shown import on_view
from workbench.engine.formats import count, duration, loss_text, rate
from workbench.engine.session import ACTIVE_STATES
from workbench.tui.text import one_line, state_word

REDRAW_SECONDS = 1.0

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


class StatusBar(Static):
    """Session, device, state, step, epoch (with a bar), speed, ETA, lr, |g|, best val loss."""

    def __init__(self, session_name: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id)
        self.session_name = session_name
        self.status: dict[str, Any] = {}
        self.last: dict[str, Any] = {}  # the newest metrics record with a train loss
        self.state_override: str | None = None  # "starting" / "stopping", set by the screen
        self.launch_error: str | None = None  # the trainer could not be started
        self.unit = "nats"
        self._dirty = False

    def on_mount(self) -> None:
        self.set_interval(REDRAW_SECONDS, self.redraw_if_dirty)
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
        return real

    def redraw(self) -> None:
        s, last = self.status, self.last
        width = max(self.size.width, 20)
        word = state_word(self.state)
        step = max(s.get("step") or 0, last.get("step") or 0)
        total = s.get("total_steps")
        spe = s.get("steps_per_epoch")
        epoch_float = last.get("epoch")
        if not isinstance(epoch_float, (int, float)):
            epoch_float = float(s.get("epoch") or 0)
        whole = int(epoch_float)
        frac = epoch_float - whole

        head = [(f" {one_line(self.session_name, 40)} ", "bold"), " ",
                (f" {word} ", f"reverse {STATE_STYLES.get(word, 'bold')}"),
                f"  step {step:,}" + (f"/{total:,}" if total else ""), f"  epoch {whole}"]
        used = sum(len(p if isinstance(p, str) else p[0]) for p in head)
        bar_width = min(20, width - used - 8)
        if bar_width >= 4 and spe:
            done, todo = progress_bar(frac, bar_width)
            head += [" ", (done, "$accent"), (todo, "$foreground-muted"), f" {frac * 100:3.0f}%"]
            used += bar_width + 6
        device = s.get("device")
        if device and s.get("shape"):  # a group: "2 x cpu, gloo, bf16"
            device = f"{s['shape']}, {str(device).split()[-1]}"
        if device and used + len(str(device)) + 2 < width:
            head.append((f"  {one_line(str(device), 40)}", "$text-muted"))

        speed = s.get("chars_per_sec") or last.get("chars_per_sec")
        lr = s.get("lr") if isinstance(s.get("lr"), (int, float)) else last.get("lr")
        grad = last.get("grad_norm")
        eta = s.get("eta_seconds") if self.state in ACTIVE_STATES else None
        parts = [
            f"{rate(speed)} chars" if speed else "- chars/s",
            f"ETA {duration(eta)}",
            f"lr {lr:.2e}" if isinstance(lr, (int, float)) else "lr -",
            f"|g| {grad:.2f}" if isinstance(grad, (int, float)) else "|g| -",
            f"best val {loss_text(s.get('best_val_loss'), self.unit)}",
        ]
        if s.get("params"):
            parts.append(f"{count(s['params'])} params")
        tail: Content = Content(" " + "  ".join(parts))
        error = (self.launch_error or s.get("error")) if self.state == "failed" else None
        if error:
            tail = Content.styled(" " + one_line(f"error: {error}", 400), "$text-error")
        self._dirty = False
        self.update(Content("\n").join([Content.assemble(*head), tail]), layout=False)  # always two lines
