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
    from workbench.engine.sessions.new_session import create_session

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
    from workbench.engine.train.trainer import Trainer

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
        from workbench.engine.machine import threads

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


def sharp_model(vocab_size: int, cell: str = "lstm"):
    """A small untrained CharRNN with sharpened weights (fp32, eval mode), so that top-k cuts."""
    import torch

    from workbench.models.charrnn import CharRNN, ModelConfig

    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=vocab_size, cell=cell, hidden=24, layers=2, dropout=0.0))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # sharper distributions, so top-k actually cuts something
    return model.eval()


def check_sampling_path(model, vocab: list[str], stepper_of) -> None:
    """The sampler's determinism and top-k on one numeric path (bf16, int8, ...): the same seed
    gives the same text alone and in a batch, another seed another; every character is among
    the k most likely as `stepper_of(hidden)` (that path's own per-character step) computes
    them after the prime is read, ties with the k-th included (bf16 logits tie often)."""
    import torch

    from workbench.engine.config import SampleSettings
    from workbench.engine.infer.sampling import generate

    for num in (1, 3):
        s = SampleSettings(length=80, top_k=None, prime="abc")
        a = generate(model, vocab, s, num=num, seed=7)
        assert a == generate(model, vocab, s, num=num, seed=7)
        assert a != generate(model, vocab, s, num=num, seed=8)
    for k in (1, 2, 3):
        text = generate(model, vocab, SampleSettings(length=200, top_k=k, prime="a"), seed=k)[0]
        ids = [vocab.index(ch) for ch in text]
        logits, hidden = model.read(torch.tensor(ids[:1]), model.init_hidden(1))  # as the sampler reads its prime
        stepper = stepper_of(hidden)
        for t in range(len(ids) - 1):
            row = (logits[0] if t == 0 else stepper.step_one(ids[t])).float()
            assert row[ids[t + 1]] >= torch.topk(row, k).values[-1], (k, t, text)


def process_gone(pid: int) -> bool:
    """Whether a process has exited: no such pid, or a zombie nobody has reaped yet (no init
    reaps them in some containers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
