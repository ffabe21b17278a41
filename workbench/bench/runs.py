"""Training runs the benchmarks start as a user does (`workbench train --headless` in a process
of its own) and the speed they read back: the median of the per-step chars/s after a warm-up,
the trainer's own timing of its steps in metrics.jsonl."""
from __future__ import annotations

import argparse
import ctypes
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from workbench.engine.errors import WorkbenchError
from workbench.engine.processes.launcher import python_command
from workbench.engine.sessions.session import Session, read_jsonl


def train_argv(args: argparse.Namespace, *, steps: int | None = None, log_every: int = 1) -> list[str]:
    """`workbench train` arguments for the benchmark's model, without name or folder: no
    validation, checkpoint or sample during the timed steps."""
    corpus = str(Path(args.corpus).resolve()) if Path(args.corpus).exists() else args.corpus  # runs cd elsewhere
    return ["--corpus", corpus, "--hidden", str(args.hidden), "--layers", str(args.layers),
            "--batch-size", str(args.batch_size), "--seq-length", str(args.seq_length),
            "--steps", str(steps or args.steps), "--device", args.device, "--precision", args.precision,
            "--log-every", str(log_every), "--eval-every", "0", "--checkpoint-every", "0", "--sample-every", "0"]


@dataclass
class Run:
    """A `workbench train --headless` in its own process."""

    name: str
    session: Session
    process: subprocess.Popen
    log: Path
    _out: IO[bytes]

    def wait(self) -> Session:
        """The session, once the run ended; WorkbenchError with its last words if it failed."""
        rc = self.process.wait()
        self._out.close()
        if rc != 0:
            raise WorkbenchError(f"the run {self.name} failed (exit status {rc}): {last_line(self.log)}", exit_code=1)
        return self.session

    def stop(self) -> None:
        """End it now (SIGTERM: it saves and stops), for a run that only kept the machine busy."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait()
        self._out.close()


def _end_with_the_bench() -> None:
    """In the run's process before it starts (Linux): a SIGTERM when the bench dies, however it
    dies, so that a killed bench leaves no trainer behind (the trainer saves and stops on it)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def start_run(argv: list[str], folder: Path, name: str, tmp: Path) -> Run:
    log = tmp / f"{name}.log"
    out = open(log, "wb")  # noqa: SIM115 - closed by Run.wait or Run.stop
    command = python_command("workbench.cli:main", ["train", *argv, "--session", name, "--headless",
                                                    "--sessions-dir", str(folder)])
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=tmp,
                               preexec_fn=_end_with_the_bench if sys.platform == "linux" else None)
    return Run(name, Session(folder / name), process, log, out)


def train_run(argv: list[str], folder: Path, name: str, tmp: Path) -> Session:
    """A run from start to end."""
    return start_run(argv, folder, name, tmp).wait()


def steady_rates(session: Session, skip: int) -> list[float]:
    """Per-step chars/s of the logged steps after the first `skip`."""
    rates = [r["chars_per_sec"] for r in read_jsonl(session.metrics_path)
             if r.get("step", 0) > skip and r.get("chars_per_sec")]
    if len(rates) < 2:
        raise WorkbenchError(f"run {session.name}: too few logged steps after the warm-up to measure", exit_code=1)
    return rates


def median_rate(session: Session, skip: int) -> float:
    return statistics.median(steady_rates(session, skip))


def last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no output"
    return next((line for line in reversed(lines) if line.strip()), "no output")
