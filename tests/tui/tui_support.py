"""Helpers of the terminal UI tests: tiny form settings, running async tests, waiting in the
pilot, and a finished session built from fixed files (for snapshots)."""
from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/support.py

from support import small_text  # noqa: E402,F401 - conftest takes it from here

# Tiny settings for the new-session form: a model that trains at hundreds of steps a second.
TINY_FORM = {"hidden": "32", "layers": "1", "dropout": "0", "batch_size": "8", "seq_length": "20",
             "log_every": "5", "eval_every": "10", "checkpoint_every": "0", "sample_every": "10",
             "max_steps": "100000"}

FIXED_TIME = 1_767_225_600.0  # 2026-01-01 00:00 UTC


class HeldStreams:
    """`sample_stream` held after its first thousand characters until `release` is set: paced
    (so that chunks still post) until `shown` is set, then stopped. A screen's streaming state
    can then be checked on any machine, however fast it samples."""

    def __init__(self, monkeypatch) -> None:
        import threading

        from workbench.engine.infer import sampling

        self.real, self.shown, self.release = sampling.sample_stream, threading.Event(), threading.Event()
        monkeypatch.setattr(sampling, "sample_stream", self.stream)

    def stream(self, *args, **kwargs):
        for count, pieces in enumerate(self.real(*args, **kwargs)):
            yield pieces
            if count >= 1000:
                if self.shown.is_set():
                    assert self.release.wait(120), "the test never let the stream go"
                else:
                    time.sleep(0.01)  # paced until the test has seen text (a chunk posts every 50 ms)


def aio(test):
    """Run an async test function with asyncio (no pytest plugin needed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Let the app run until `predicate()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await pilot.pause(0.1)


def stop_trainer_of(session) -> None:
    """Leave no trainer behind a failed test: SIGTERM saves and exits."""
    holder = session.lock_holder()
    if holder and holder.get("pid"):
        try:
            os.kill(int(holder["pid"]), 15)
        except OSError:
            pass
        deadline = time.monotonic() + 20
        while session.lock_holder() and time.monotonic() < deadline:
            time.sleep(0.1)


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def finished_session(sessions_dir: Path, corpus_path: Path, name: str = "anna-fixed"):
    """A finished session from fixed metrics, samples and events files (no training)."""
    from workbench.engine.config import TrainConfig
    from workbench.engine.files import write_json_atomic
    from workbench.engine.sessions.session import Session

    config = TrainConfig(corpus=str(corpus_path), hidden=128, layers=2, batch_size=32, seq_length=64,
                         max_steps=1000, device="cpu")
    vocab = sorted(set("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?'\"\n-"))
    session = Session.create(sessions_dir, name, config, {"name": "anna", "origin": str(corpus_path),
                                                          "chars": 20000, "vocab_size": len(vocab)}, vocab)
    metrics = []
    for step in range(10, 1001, 10):
        t = FIXED_TIME + step
        record = {"step": step, "epoch": round(step / 400, 6), "train_loss": 1.3 + 2.9 * math.exp(-step / 250),
                  "lr": 0.002, "grad_norm": 0.5 + 1.0 / (1 + step / 100), "chars_per_sec": 41000.0, "time": t}
        if step % 100 == 0:
            record.update(val_loss=1.4 + 2.9 * math.exp(-step / 270), val_full=step % 500 == 0)
        metrics.append(record)
    samples = [
        {"step": 500, "time": FIXED_TIME + 500, "text": "The cat sat on the mat.\nAnd then [bold]it left[/bold].",
         "prime": "The ", "temperature": 1.0, "top_k": 5, "top_p": None, "length": 50},
        {"step": 1000, "time": FIXED_TIME + 1000,
         "text": "The house was quiet\r\nwhen \x1b[31mAnna\x1b[0m came home; she said: \"[link=x]go[/link]\".",
         "prime": "The ", "temperature": 0.8, "top_k": 5, "top_p": None, "length": 60},
    ]
    events = [
        {"kind": "started", "step": 0, "time": FIXED_TIME, "epoch": 0, "device": "cpu (2 threads)",
         "params": 206_000, "resumed": False, "total_steps": 1000, "steps_per_epoch": 400},
        {"kind": "checkpoint", "step": 500, "time": FIXED_TIME + 500, "path": "x", "reason": "periodic", "best": True},
        {"kind": "warning", "step": 700, "time": FIXED_TIME + 700, "message": "a warning with [red]markup[/red]"},
        {"kind": "checkpoint", "step": 1000, "time": FIXED_TIME + 1000, "path": "x", "reason": "budget", "best": True},
        {"kind": "finished", "step": 1000, "time": FIXED_TIME + 1000, "reason": "budget", "state": "finished",
         "best_val_loss": metrics[-1]["val_loss"]},
    ]
    write_jsonl(session.metrics_path, metrics)
    write_jsonl(session.samples_path, samples)
    write_jsonl(session.events_path, events)
    write_json_atomic(session.status_path, {
        "state": "finished", "step": 1000, "epoch": 2, "best_val_loss": metrics[-1]["val_loss"], "params": 206_000,
        "device": "cpu", "chars_per_sec": 41000.0, "lr": 0.002, "total_steps": 1000, "steps_per_epoch": 400,
        "updated": FIXED_TIME + 1000, "pid": None, "reason": "budget"})
    return session
