"""A run's progress as viewers read it from status.json: the bar is the run's (toward the budget
that ends it first), and a trainer silent for several times its usual interval is stalled."""
from __future__ import annotations

import pytest

from workbench.engine.config import TrainConfig
from workbench.engine.sessions.progress import (STALL_FLOOR_SECONDS, STALL_INTERVALS, STALL_UNKNOWN_SECONDS, run_progress,
                                       stall_limit, stalled_seconds)


def test_the_bar_is_the_runs_steps_not_the_epochs():
    # The run: 900 steps, 2 epochs of 400 and a bit: at step 710 the run is 79% done.
    assert run_progress(TrainConfig(max_steps=900), {"step": 710, "total_steps": 900}) == (pytest.approx(710 / 900),
                                                                                          "steps")
    assert run_progress(TrainConfig(max_steps=900), {"step": 900, "total_steps": 900}) == (1.0, "steps")
    assert run_progress(TrainConfig(), {"step": 710}) is None  # no budget: no bar


def test_an_epoch_target_that_comes_first_is_named():
    config = TrainConfig(max_steps=10_000, max_epochs=2)
    assert run_progress(config, {"step": 400, "total_steps": 800}) == (0.5, "epochs")
    assert run_progress(TrainConfig(max_epochs=2), {"step": 400, "total_steps": 800})[1] == "epochs"


def test_minutes_count_this_run_and_the_first_budget_to_end_wins():
    config = TrainConfig(max_steps=1000, max_minutes=10)
    status = {"state": "running", "step": 100, "total_steps": 1000, "started": 1000.0}
    assert run_progress(config, status, now=1000.0 + 300) == (0.5, "minutes")  # 5 of 10 minutes, 10% of the steps
    assert run_progress(config, {**status, "run_seconds": 60.0}, now=1000.0 + 300) == (0.1, "steps")  # its own clock
    stopped = {**status, "state": "stopped", "finished": 1000.0 + 540}
    assert run_progress(config, stopped, now=99_999.0) == (pytest.approx(0.9), "minutes")  # frozen at the end


def test_a_stall_is_several_usual_intervals_and_at_least_the_floor():
    now = 10_000.0
    running = {"state": "running", "report_seconds": 2.0, "updated": now - 10}
    assert stall_limit(running) == STALL_FLOOR_SECONDS  # 5 x 2 s is under the floor
    assert stalled_seconds(running, now) is None
    assert stalled_seconds({**running, "updated": now - 45}, now) == 45.0
    slow = {**running, "report_seconds": 20.0, "updated": now - 45}
    assert stall_limit(slow) == STALL_INTERVALS * 20.0 and stalled_seconds(slow, now) is None
    assert stalled_seconds({**slow, "updated": now - 101}, now) == 101.0


def test_no_stall_while_paused_or_before_the_usual_interval_is_known():
    now = 10_000.0
    assert stalled_seconds({"state": "paused", "report_seconds": 2.0, "updated": now - 500}, now) is None
    assert stalled_seconds({"state": "finished", "updated": now - 500}, now) is None
    first = {"state": "running", "updated": now - 60}  # setup and the first interval: give it longer
    assert stall_limit(first) == STALL_UNKNOWN_SECONDS and stalled_seconds(first, now) is None
    assert stalled_seconds({**first, "updated": now - STALL_UNKNOWN_SECONDS - 1}, now) is not None
