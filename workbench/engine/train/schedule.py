"""Learning-rate schedules as pure functions of (step, epoch): nothing to save but the
base rate, so resuming can never drift from an uninterrupted run."""
from __future__ import annotations

import math


def learning_rate(
    schedule: str,
    base_lr: float,
    step: int,
    epoch: int,
    *,
    total_steps: int | None = None,
    warmup_steps: int = 0,
    min_lr_frac: float = 0.1,
    decay_rate: float = 0.97,
    decay_after: int = 10,
) -> float:
    """The rate for the step about to run (`step` steps done, `epoch` epochs done)."""
    if schedule == "constant":
        return base_lr
    if schedule == "decay":
        # char-rnn multiplies the rate by decay_rate at the end of every epoch e (e = 1, 2,
        # ...) with e >= decay_after; it never decays before the first epoch ends.
        decays = max(0, epoch - max(decay_after, 1) + 1)
        return base_lr * decay_rate**decays
    if schedule == "cosine":
        if warmup_steps and step < warmup_steps:
            return base_lr * (step + 1) / warmup_steps
        total = max(total_steps or 1, warmup_steps + 1)
        progress = min(1.0, (step - warmup_steps) / (total - warmup_steps))
        floor = base_lr * min_lr_frac
        return floor + 0.5 * (base_lr - floor) * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}")
