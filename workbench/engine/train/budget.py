"""How long a session trains: its step and epoch targets (totals for the session) and its
minutes (for one run). The one place that says when a budget is spent, for the trainer, the
command line and the terminal UI alike, and how long is left. Pure Python."""
from __future__ import annotations

import math
import statistics
import time
from typing import Any

from workbench.engine.config import TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import Session


def target_steps(config: TrainConfig, steps_per_epoch: int | None) -> int | None:
    """The step at which the budget ends a run: the first of --steps and --epochs reached
    (None: no step or epoch limit). An epoch target needs the epoch's length in steps."""
    targets = []
    if config.max_steps is not None:
        targets.append(config.max_steps)
    if config.max_epochs is not None and steps_per_epoch:
        targets.append(math.ceil(config.max_epochs * steps_per_epoch))
    return min(targets) if targets else None


def steps_done(status: dict[str, Any]) -> int:
    """Where a resume starts: the step of the last checkpoint (else the last step reported)."""
    try:
        return int(status.get("checkpoint_step") or status.get("step") or 0)
    except (TypeError, ValueError):
        return 0


def spent(config: TrainConfig, status: dict[str, Any]) -> str | None:
    """What a resume without a new budget would meet at once ("its target of 300 steps"), or None."""
    step = steps_done(status)
    if config.max_steps is not None and step >= config.max_steps:
        return f"its target of {config.max_steps:,} steps"
    if config.max_epochs is not None:
        per_epoch = status.get("steps_per_epoch")
        target = target_steps(TrainConfig(max_epochs=config.max_epochs), per_epoch if isinstance(per_epoch, int) else None)
        reached = step >= target if target is not None else _epoch(status) >= config.max_epochs
        if reached:
            return f"its target of {config.max_epochs:g} epochs"
    return None


def _epoch(status: dict[str, Any]) -> float:
    value = status.get("epoch")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def given(steps: int | None, epochs: float | None, minutes: float | None) -> bool:
    return steps is not None or epochs is not None or minutes is not None


def set_budget(session: Session, steps: int | None, epochs: float | None, minutes: float | None) -> TrainConfig:
    """The session's budget for its next run, saved: a budget given replaces the old one
    entirely; none keeps the old one (the minutes too: another run of as many minutes).
    WorkbenchError when it is spent already, so that no trainer starts only to stop at once."""
    config = session.read_config()
    if given(steps, epochs, minutes):
        config = config.with_budget(steps, epochs, minutes).validate()
    met = spent(config, session.live_status())
    if met:
        step = steps_done(session.live_status())
        raise WorkbenchError(f"session {session.name!r} is at step {step:,}, which already meets {met}; "
                             "give a larger --steps (or --epochs / --minutes) to continue")
    session.write_config(config)
    return config


class RunClock:
    """Seconds this run has trained, pauses left out (what --minutes counts)."""

    def __init__(self) -> None:
        self._total = 0.0
        self._since: float | None = None

    def start(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def stop(self) -> None:
        if self._since is not None:
            self._total += time.perf_counter() - self._since
            self._since = None

    def seconds(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._total + running


def eta_seconds(config: TrainConfig, *, step: int, total_steps: int | None, chars_per_sec: float | None,
                run_seconds: float) -> float | None:
    """Seconds until the budget ends the run: the steps left at this speed, or the minutes
    left, whichever comes first (None: no budget)."""
    candidates = []
    if total_steps is not None and chars_per_sec:
        candidates.append((total_steps - step) * config.batch_size * config.seq_length / chars_per_sec)
    if config.max_minutes is not None:
        candidates.append(max(0.0, config.max_minutes * 60 - run_seconds))
    return min(candidates) if candidates else None


class SpeedEstimate:
    """The training speed a user is shown, and the ETA is computed from: the median of the last
    WINDOW log intervals, so that one interval of a busy machine (a preempted process trains
    at a fraction of its speed, or a burst catches up) moves it little. Also the usual wall
    time between reports, from which a viewer tells a run that has stalled."""

    WINDOW = 5

    def __init__(self) -> None:
        self._rates: list[float] = []
        self._gaps: list[float] = []
        self._last: float | None = None

    def add(self, chars_per_sec: float) -> None:
        now = time.monotonic()
        if self._last is not None:
            self._gaps = [*self._gaps[-(self.WINDOW - 1):], now - self._last]
        self._last = now
        self._rates = [*self._rates[-(self.WINDOW - 1):], chars_per_sec]

    @property
    def chars_per_sec(self) -> float | None:
        return statistics.median(self._rates) if self._rates else None

    @property
    def report_seconds(self) -> float | None:
        """The usual seconds between two reports (None until two have come)."""
        return statistics.median(self._gaps) if self._gaps else None

    def pause(self) -> None:
        """A pause is no gap between reports."""
        self._last = None
