"""Plain helpers shared by the engine tests (small data, fast)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPO.parent / "shared" / "corpora"


def shared_corpus(name: str) -> Path:
    path = SHARED_CORPORA / name
    if not path.is_file():
        raise AssertionError(f"test corpus {path} is missing: the tests need ../shared/corpora beside the repo")
    return path


def small_text(tmp_path: Path, chars: int = 20_000, name: str = "small.txt") -> Path:
    """The first `chars` characters of anna_small.txt (LF line endings) as a file."""
    text = shared_corpus("anna_small.txt").read_text().replace("\r\n", "\n")[:chars]
    path = tmp_path / name
    path.write_text(text)
    return path


TINY = ["--hidden", "32", "--layers", "2", "--batch-size", "8", "--seq-length", "20", "--dropout", "0.3",
        "--log-every", "5", "--eval-every", "10", "--eval-batches", "2", "--sample-every", "0", "--headless"]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def make_session(sessions_dir: Path, corpus_path: Path, name: str = "s", **overrides):
    """A session with a tiny model, created through the engine API."""
    from workbench.engine.config import TrainConfig
    from workbench.engine.corpus.load import CorpusSpec, load_corpus
    from workbench.engine.new_session import create_session

    settings = dict(corpus=str(corpus_path), hidden=32, layers=2, batch_size=8, seq_length=20, dropout=0.3,
                    log_every=5, eval_every=10, eval_batches=2, sample_every=0, checkpoint_every=0, device="cpu")
    settings.update(overrides)
    config = TrainConfig(**settings).validate()
    corpus = load_corpus(CorpusSpec(config.corpus), progress=None)
    return create_session(sessions_dir, config, corpus, name)


def wait_until(predicate, what: str, timeout: float = 20.0):
    """The first true value of `predicate()`, polled until `timeout` seconds; AssertionError after."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run_trainer(session, **budget):
    """Set the session's budget and train it in this thread; returns (final event, events)."""
    from workbench.engine.trainer import Trainer

    config = session.read_config()
    if budget:
        config = config.with_budget(budget.get("steps"), budget.get("epochs"), budget.get("minutes"))
        session.write_config(config)
    trainer = Trainer(session)
    seen = []
    trainer.subscribe(seen.append)
    final = trainer.run()
    return final, seen


class PretendMachine:
    """/proc/stat and the clock as a script says: `others` cores busy with other processes'
    work, on top of what this process really spends."""

    def __init__(self, monkeypatch, others: float) -> None:
        from workbench.engine import threads

        self.others, self.now, self.busy = others, 1000.0, 0.0
        monkeypatch.setattr(threads, "_busy_seconds", lambda cpus: self.busy + self._ours())
        monkeypatch.setattr(threads.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(threads.time, "sleep", self.wait)

    @staticmethod
    def _ours() -> float:
        t = os.times()
        return t.user + t.system

    def wait(self, seconds: float) -> None:
        self.now += seconds
        self.busy += self.others * seconds
