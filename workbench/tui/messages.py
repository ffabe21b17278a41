"""Messages the thread workers post to the screens: small dataclasses of plain values
(dicts from the session's JSON files, floats and strings), never live objects."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class SessionUpdate(Message):
    """New records of a followed session since the last poll (one message per poll).
    `reset`: the history was rewritten (a resume truncated it); drop what you have."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    reset: bool = False
    config: Any = None  # the session's TrainConfig, read again when a run starts (its budget may be new)
    config_error: str | None = None


@dataclass
class TrainerStarted(Message):
    pid: int


@dataclass
class TrainerFailed(Message):
    """The trainer could not be started (or a command could not reach it)."""

    error: str


@dataclass
class SessionsListed(Message):
    """The home screen's table rows (Session.summary() dicts), newest first."""

    rows: list[dict[str, Any]]


@dataclass
class CommandSent(Message):
    """A control command reached the trainer (what: a short description)."""

    what: str
    reply: dict[str, Any] = field(default_factory=dict)


# -- the sample studio ------------------------------------------------------------------------
@dataclass
class ModelReady(Message):
    which: str
    step: int
    device: str
    val_loss: float | None
    warnings: list[str] = field(default_factory=list)
    quantized: str | None = None
    """With --quantize int8: its measured speed and cost against fp32, in a sentence."""


@dataclass
class SampleChunk(Message):
    run: int
    pieces: list[str]


@dataclass
class GenerationEnded(Message):
    run: int
    chars: int
    seconds: float
    step: int


@dataclass
class SampleSaved(Message):
    path: str


# -- the probe --------------------------------------------------------------------------------
@dataclass
class ProbeResult(Message):
    prime: str
    probs: list[tuple[str, float]]
    step: int


@dataclass
class SurprisalResult(Message):
    text: str
    bits: list[float | None]
    mean_bits: float
    scored: int
    unknown: dict[str, int] = field(default_factory=dict)


@dataclass
class PassageIsPath(Message):
    """The passage box holds only the path of a file: load it instead."""

    path: str


@dataclass
class PassageLoaded(Message):
    path: str
    text: str
    notes: list[str] = field(default_factory=list)


# -- the new-session form ---------------------------------------------------------------------
@dataclass
class Created(Message):
    session: Any  # workbench.engine.sessions.session.Session
    notes: list[str]


@dataclass
class PathChecked(Message):
    """What is wrong with the corpus path as typed ('' when nothing is)."""

    text: str
    problem: str


@dataclass
class CreateFailed(Message):
    error: str
    field: str | None


# -- run comparison ---------------------------------------------------------------------------
@dataclass
class RunsDescribed(Message):
    """Each run's settings (flattened config, plus a few status fields), in run order."""

    settings: dict[str, dict[str, Any]]
    chars_per_step: dict[str, int]


@dataclass
class RunRecords(Message):
    """New metrics records of the runs: name -> (records, reset)."""

    records: dict[str, tuple[list[dict[str, Any]], bool]] = field(default_factory=dict)
