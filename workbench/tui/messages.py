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
