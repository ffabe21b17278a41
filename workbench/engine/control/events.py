"""Typed events the trainer emits. Small, plain values only (no tensors), so they can be
passed to a UI thread, written to a log or sent over a socket unchanged (`to_dict`)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    step: int
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Started(Event):
    kind: ClassVar[str] = "started"
    epoch: int
    device: str
    params: int
    resumed: bool
    total_steps: int | None
    steps_per_epoch: int


@dataclass(frozen=True)
class StepsLogged(Event):
    """One log interval: the mean training loss of the steps since the last report."""

    kind: ClassVar[str] = "steps"
    epoch: int
    epoch_progress: float
    train_loss: float
    lr: float
    grad_norm: float
    chars_per_sec: float
    eta_seconds: float | None


@dataclass(frozen=True)
class Evaluated(Event):
    kind: ClassVar[str] = "evaluated"
    val_loss: float
    full: bool
    """True for a pass over the whole validation split; False for the cheap estimate."""
    best: bool
    """True when this full pass set a new best validation loss."""


@dataclass(frozen=True)
class SampleGenerated(Event):
    kind: ClassVar[str] = "sample"
    text: str
    prime: str
    temperature: float
    top_k: int | None
    top_p: float | None


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    path: str
    reason: str
    best: bool


@dataclass(frozen=True)
class Paused(Event):
    kind: ClassVar[str] = "paused"


@dataclass(frozen=True)
class Resumed(Event):
    kind: ClassVar[str] = "resumed"


@dataclass(frozen=True)
class SettingChanged(Event):
    kind: ClassVar[str] = "setting"
    name: str
    value: Any


@dataclass(frozen=True)
class Warning(Event):  # noqa: A001 - a trainer warning, not the builtin
    kind: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True)
class Finished(Event):
    kind: ClassVar[str] = "finished"
    reason: str
    """budget, stopped, early-stopping, signal."""
    state: str
    """The session state it leaves: finished or stopped."""
    best_val_loss: float | None


@dataclass(frozen=True)
class Failed(Event):
    kind: ClassVar[str] = "failed"
    error: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (Started, StepsLogged, Evaluated, SampleGenerated, CheckpointSaved, Paused, Resumed,
                SettingChanged, Warning, Finished, Failed)
}


def event_from_dict(data: dict[str, Any]) -> Event:
    data = dict(data)
    cls = EVENT_TYPES[data.pop("kind")]
    return cls(**data)
