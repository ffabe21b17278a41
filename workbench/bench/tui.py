"""The terminal UI's cost: training throughput with the app open on the session against
headless, at the same settings.

Each round trains a fresh session for `--steps` steps with the same seed: headless
(`workbench train --headless`), then with the app open on it (`workbench train` in a 100x30
tmux pane, TERM=xterm-256color: the app starts the trainer as its own process and follows it,
as a user sees it). The figure of a run is the median of its per-step chars/s after a warm-up
(the trainer's own timing of its steps, in metrics.jsonl); the rounds alternate, which
cancels a drift of the machine's speed."""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.bench.machine import machine_info
from workbench.bench.report import TUI_GOAL, format_tui_table, say, write_json
from workbench.bench.runs import train_argv, train_run
from workbench.engine.errors import WorkbenchError
from workbench.engine.processes.launcher import python_command
from workbench.engine.sessions.session import ACTIVE_STATES, Session, read_jsonl

TUI_ROUNDS = 2  # headless, UI, headless, UI
STALL_SECONDS = 120  # a run that makes no progress this long has failed


def run_tui_bench(args: argparse.Namespace) -> int:
    if shutil.which("tmux") is None:
        raise WorkbenchError("workbench bench --tui runs the terminal UI in tmux, which is not installed "
                             "(apt-get install tmux)")
    if args.vs_seed is not None or args.minutes:
        raise WorkbenchError("--tui measures the UI's cost only; leave out --vs-seed and --minutes")
    results, argv = _setup(args)
    say(f"machine: {results['machine']['summary']}")
    c = results["config"]
    chars_per_step = args.batch_size * args.seq_length
    rounds: list[dict[str, Any]] = []
    pooled: dict[str, list[float]] = {"headless": [], "ui": []}  # every measured step of each side
    with tempfile.TemporaryDirectory(prefix="workbench-bench-tui-") as tmp:
        folder = Path(tmp) / "sessions"
        for i in range(1, TUI_ROUNDS + 1):
            for side in ("headless", "ui"):
                name = f"{side}-{i}"
                say(f"round {i}: {args.steps} steps at {args.hidden}x{args.layers}, batch {args.batch_size}, "
                    f"seq {args.seq_length}, {'with the UI open' if side == 'ui' else 'headless'}")
                if side == "ui":
                    session, notes = _run_with_ui(argv, folder, name, Path(tmp), args.steps)
                else:
                    session, notes = train_run(argv, folder, name, Path(tmp)), []
                results["warnings"] += notes
                figures = _figures(session, c["warmup_steps"], chars_per_step)
                pooled[side] += figures.pop("per_step")
                rounds.append({"round": i, "side": side, **figures})
    _summarise(results, rounds, pooled)
    print(format_tui_table(results))
    write_json(args, results)
    return 0


def _setup(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The results' header and the `workbench train` arguments both sides run with."""
    from workbench.engine.machine.device import precision_name, resolve_device, resolve_precision

    device = resolve_device(args.device)
    log_every = 1 if device.type == "cpu" else 10  # each report is a device sync on an accelerator
    skip = max(2 * log_every, args.steps // 6)  # warm-up steps left out of each run's figure
    if args.steps < skip + 5 * log_every:
        raise WorkbenchError(f"--steps must be at least {skip + 5 * log_every} with --tui, got {args.steps}")
    argv = [*train_argv(args, log_every=log_every), *(["--threads", str(args.threads)] if args.threads else [])]
    results: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(device),
        "config": {"corpus": args.corpus, "cell": "lstm", "hidden": args.hidden, "layers": args.layers,
                   "batch_size": args.batch_size, "seq_length": args.seq_length, "steps": args.steps,
                   "warmup_steps": skip, "log_every": log_every, "device": str(device),
                   "precision": precision_name(resolve_precision(args.precision, device, args.hidden)),
                   "threads": args.threads, "terminal": "tmux 100x30, TERM=xterm-256color"},
        "warnings": [],
    }
    return results, argv


def _summarise(results: dict[str, Any], rounds: list[dict[str, Any]], pooled: dict[str, list[float]]) -> None:
    headless, ui = statistics.median(pooled["headless"]), statistics.median(pooled["ui"])
    wall = {side: statistics.mean(r["wall_chars_per_sec"] for r in rounds if r["side"] == side)
            for side in ("headless", "ui")}
    results["tui"] = {"rounds": rounds, "headless_chars_per_sec": headless, "ui_chars_per_sec": ui,
                      "ratio": ui / headless, "headless_wall_chars_per_sec": wall["headless"],
                      "ui_wall_chars_per_sec": wall["ui"], "wall_ratio": wall["ui"] / wall["headless"]}
    results["goals"] = [{"name": "tui_vs_headless", "label": "training chars/s with the UI open vs headless",
                         "value": ui / headless, "goal": f">= {TUI_GOAL:g}", "pass": ui / headless >= TUI_GOAL}]


class _TmuxApp:
    """`workbench train` (the app) in a detached tmux session on a tmux server of its own."""

    def __init__(self, argv: list[str], folder: Path, name: str, tmp: Path) -> None:
        self.name = name
        self.server = ["tmux", "-L", f"workbench-bench-{os.getpid()}", "-f", "/dev/null"]
        command = "exec env -u COLUMNS -u LINES TERM=xterm-256color " + shlex.join(
            python_command("workbench.cli:main", ["train", *argv, "--session", name, "--sessions-dir", str(folder)]))
        subprocess.run([*self.server, "new-session", "-d", "-s", name, "-x", "100", "-y", "30", "-c", str(tmp),
                        command], check=True, capture_output=True)

    def screen(self) -> str:
        r = subprocess.run([*self.server, "capture-pane", "-p", "-t", f"={self.name}:"], capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else ""

    def alive(self) -> bool:
        return subprocess.run([*self.server, "has-session", "-t", f"={self.name}"], capture_output=True).returncode == 0

    def close(self) -> None:
        subprocess.run([*self.server, "kill-server"], capture_output=True)
        socket = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / self.server[2]
        socket.unlink(missing_ok=True)  # tmux leaves it behind when its last session ends by itself


def _run_with_ui(argv: list[str], folder: Path, name: str, tmp: Path, steps: int) -> tuple[Session, list[str]]:
    """Returns once the app's trainer has ended. Fails with the screen's last words if the app
    leaves early or the run makes no progress."""
    session, notes, seen_running, last = Session(folder / name), [], False, ""

    def fail(what: str, screen: str) -> WorkbenchError:
        lines = [ln.strip() for ln in screen.splitlines() if ln.strip()]
        return WorkbenchError(f"the run with the UI open {what}; its screen: {' | '.join(lines[:4]) or '(empty)'}",
                              exit_code=1)

    app = _TmuxApp(argv, folder, name, tmp)
    try:
        moved, step = time.monotonic(), -1
        while True:
            time.sleep(0.5)
            status = session.read_status() if session.status_path.exists() else {}
            if status.get("step", 0) != step:
                step, moved = status.get("step", 0), time.monotonic()
            if status.get("state") == "failed":
                raise WorkbenchError(f"the run with the UI open failed: {status.get('error')}", exit_code=1)
            if status.get("state") not in (None, "created", *ACTIVE_STATES) and session.lock_holder() is None:
                break
            if not seen_running and status.get("state") == "running" and step * 2 >= steps:
                last = app.screen()  # once, half way: the app must be showing the run
                seen_running = "RUNNING" in last
                if not seen_running:
                    notes.append(f"{name}: the screen did not show RUNNING half way through")
            if not app.alive():
                raise fail("exited before its trainer ended", last)
            if time.monotonic() - moved > STALL_SECONDS:
                raise fail("made no progress for 2 minutes", app.screen())
    finally:
        app.close()
        _stop_leftover_trainer(session)
    return session, notes


def _stop_leftover_trainer(session: Session) -> None:
    holder = session.lock_holder()
    if holder and holder.get("pid"):  # a failed measurement leaves no trainer behind
        try:
            os.kill(int(holder["pid"]), signal.SIGTERM)
        except OSError:
            pass


def _figures(session: Session, skip: int, chars_per_step: int) -> dict[str, Any]:
    steady = [r for r in read_jsonl(session.metrics_path) if r.get("step", 0) > skip and r.get("chars_per_sec")]
    if len(steady) < 2:
        raise WorkbenchError(f"run {session.name}: too few logged steps after the warm-up to measure", exit_code=1)
    first, last = steady[0], steady[-1]
    seconds = max(last["time"] - first["time"], 1e-9)
    return {"per_step": [r["chars_per_sec"] for r in steady],
            "median_chars_per_sec": statistics.median(r["chars_per_sec"] for r in steady),
            "wall_chars_per_sec": (last["step"] - first["step"]) * chars_per_step / seconds,
            "steps_measured": len(steady)}
