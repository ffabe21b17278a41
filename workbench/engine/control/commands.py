"""Commands the trainer accepts between steps. Plain values, so a UI thread, a signal
handler or a control socket can send them (`to_dict` / `command_from_dict`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Command:
    kind: ClassVar[str] = "command"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Pause(Command):
    kind: ClassVar[str] = "pause"


@dataclass(frozen=True)
class Resume(Command):
    kind: ClassVar[str] = "resume"


@dataclass(frozen=True)
class Stop(Command):
    """Checkpoint, then end the run. `reason` ends up in the Finished event. `urgent` (a
    signal: the process may be killed within seconds) writes the checkpoint before its full
    validation instead of after."""

    kind: ClassVar[str] = "stop"
    reason: str = "stopped"
    urgent: bool = False


@dataclass(frozen=True)
class CheckpointNow(Command):
    kind: ClassVar[str] = "checkpoint"


@dataclass(frozen=True)
class SampleNow(Command):
    kind: ClassVar[str] = "sample"


@dataclass(frozen=True)
class SetLearningRate(Command):
    kind: ClassVar[str] = "set_lr"
    lr: float


@dataclass(frozen=True)
class SetSampleSettings(Command):
    """Only the fields given (not None) change."""

    kind: ClassVar[str] = "set_sample"
    length: int | None = None
    top_k: int | None = None
    top_p: float | None = None
    temperature: float | None = None
    prime: str | None = None


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.kind: cls for cls in (Pause, Resume, Stop, CheckpointNow, SampleNow, SetLearningRate, SetSampleSettings)
}


def command_from_dict(data: dict[str, Any]) -> Command:
    data = dict(data)
    cls = COMMAND_TYPES[data.pop("kind")]
    return cls(**data)
