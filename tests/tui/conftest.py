"""Fixtures of the terminal UI tests."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from tui_support import small_text


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return small_text(tmp_path)


@pytest.fixture
def utc(monkeypatch):
    """Times on screen in UTC, so snapshots do not depend on the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
