"""A run's progress as a viewer reads it from status.json: how far it is toward the end of its
budget, and whether it has stopped reporting (a stall). The terminal UI's status line, `workbench
ps` and `attach --headless` all ask these, so that they tell the same story. Pure Python.

    done = run_progress(config, status)       # (0.79, "steps"): the bar and what ends the run
    quiet = stalled_seconds(status)          # 45.0 when no step has come for too long, else None
"""
from __future__ import annotations

import time
from typing import Any

from workbench.engine.config import TrainConfig

# A stall: no status write for STALL_INTERVALS times the usual time between two reports. On a
# busy 2-core machine one interval can take two or three times the usual (the trainer was
# preempted), and a checkpoint's full validation or a sample adds a few seconds to one: five
# intervals rule those out. The floor keeps runs that report many times a second (tiny models)
# from being called stalled by any hiccup of a few seconds.
STALL_INTERVALS = 5
STALL_FLOOR_SECONDS = 30.0
# Before two reports have come the usual interval is unknown, and the first one also holds the
# setup (the corpus, the model, the first evaluation): wait longer before saying anything.
STALL_UNKNOWN_SECONDS = 120.0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def stall_limit(status: dict[str, Any]) -> float:
    """Seconds without a status write after which a running trainer counts as stalled."""
    usual = _number(status.get("report_seconds"))
    if usual is None or usual <= 0:
        return STALL_UNKNOWN_SECONDS
    return max(STALL_INTERVALS * usual, STALL_FLOOR_SECONDS)


def stalled_seconds(status: dict[str, Any], now: float | None = None) -> float | None:
    """How long a running trainer has been silent, when that is past `stall_limit`; else None
    (also for any state but running: a paused trainer is quiet on purpose)."""
    if status.get("state") != "running":
        return None
    updated = _number(status.get("updated"))
    if updated is None:
        return None
    quiet = (time.time() if now is None else now) - updated
    return quiet if quiet > stall_limit(status) else None


def run_seconds(status: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds this run has trained: the trainer's own clock when status.json has it (pauses
    left out), else the wall time since the run started (pauses included)."""
    own = _number(status.get("run_seconds"))
    if own is not None:
        return own
    started = _number(status.get("started"))
    if started is None:
        return None
    if status.get("state") == "running":
        end = time.time() if now is None else now
    else:
        end = _number(status.get("finished")) or _number(status.get("updated")) or started
    return max(0.0, end - started)


def run_progress(config: TrainConfig, status: dict[str, Any], now: float | None = None) -> tuple[float, str] | None:
    """How far the run is toward the end of its budget (0 to 1) and which budget ends it first:
    "steps", "epochs" or "minutes". None without a budget. The step and epoch targets are the
    session's totals (status.json's total_steps, the first of the two); the minutes are this run's."""
    found: list[tuple[float, str]] = []
    total, step = _number(status.get("total_steps")), _number(status.get("step")) or 0.0
    if total:
        by_epochs = config.max_epochs is not None and (config.max_steps is None or total < config.max_steps)
        found.append((step / total, "epochs" if by_epochs else "steps"))
    if config.max_minutes:
        seconds = run_seconds(status, now)
        if seconds is not None:
            found.append((seconds / (config.max_minutes * 60), "minutes"))
    if not found:
        return None
    fraction, what = max(found)
    return min(max(fraction, 0.0), 1.0), what
