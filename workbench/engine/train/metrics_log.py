"""The training loss as it is logged: summed on the device step by step and read once per log
interval (the one host-device sync of an interval), with the interval's speed; and the one
metrics.jsonl record per step, into which an evaluation that follows the step's log merges."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from workbench.engine.train.distributed import World
from workbench.engine.sessions.session import JsonlWriter


@dataclass(frozen=True)
class Interval:
    steps: int
    mean_loss: float
    mean_norm: float
    chars_per_sec: float
    """Characters trained per second of training steps (no evaluations, no pauses), by the
    whole group: `chars_per_step` is the global batch's."""


class IntervalMeter:
    """Losses and gradient norms of the steps since the last report, kept on the device."""

    def __init__(self, device: torch.device, chars_per_step: int, world: World | None = None) -> None:
        self.chars_per_step = chars_per_step
        self.world = world
        self._loss_sum = torch.zeros((), device=device)
        self._norm_sum = torch.zeros((), device=device)
        self.steps = 0
        self._seconds = 0.0

    def add(self, loss: Tensor, norm: Tensor, seconds: float) -> None:
        self._loss_sum += loss.detach()  # stays on the device: no sync per step
        self._norm_sum += norm.detach()
        self.steps += 1
        self._seconds += seconds

    def read(self) -> Interval:
        """The interval's means (one sync) and speed; the meter starts the next interval. In a
        group the loss is the mean over the ranks (one collective per interval, not per step);
        the gradient norm is every rank's already (DDP averaged the gradients)."""
        if self.world is not None:
            self.world.mean_(self._loss_sum)
        interval = Interval(
            steps=self.steps,
            mean_loss=float((self._loss_sum / self.steps).item()),
            mean_norm=float((self._norm_sum / self.steps).item()),
            chars_per_sec=self.steps * self.chars_per_step / max(self._seconds, 1e-9),
        )
        self._loss_sum.zero_()
        self._norm_sum.zero_()
        self.steps, self._seconds = 0, 0.0
        return interval


class MetricsRecorder:
    """One metrics.jsonl record per step: values merge into the current step's record, which is
    written when the next step's record begins (or on `flush`), so that a validation pass that
    follows the step's log lands in the same line."""

    def __init__(self, writer: JsonlWriter) -> None:
        self.writer = writer
        self._record: dict[str, Any] | None = None

    def merge(self, step: int, epoch: float, **values: Any) -> None:
        if self._record is not None and self._record["step"] != step:
            self.flush()
        if self._record is None:
            self._record = {"step": step, "epoch": round(epoch, 6)}
        self._record.update(values)

    def flush(self) -> None:
        record, self._record = self._record, None
        if record is None:
            return
        # Six significant digits are plenty for a chart and make the history much cheaper to
        # parse for a viewer attaching to a long run.
        for key in ("train_loss", "val_loss", "grad_norm", "lr"):
            if key in record:
                record[key] = float(f"{record[key]:.6g}")
        if "chars_per_sec" in record:
            record["chars_per_sec"] = round(record["chars_per_sec"])
        record["time"] = round(time.time(), 3)
        self.writer.write(record)

