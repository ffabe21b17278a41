"""`workbench bench --contention`: how training, sampling and scoring share the machine.

Training (each a `workbench train --headless` run of `--steps` steps, the median of its
per-step chars/s after a warm-up): quiet; beside one busy process (`python -c 'while True:
pass'`); and two sessions at once. Each with the default thread choice (auto: threads.py) and
with every core (what torch does unasked, today's default before auto), all in this one run so
that each figure is a ratio to the quiet run of its own kind, measured minutes apart.

Sampling and scoring (in this process, one stream of SAMPLE_CHARS characters, score_pieces over
SCORE_CHARS): quiet, then beside a trainer started for the purpose, with the thread choice a
`workbench sample` or `score` makes (auto) and with every core."""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from workbench.bench.machine import machine_info
from workbench.bench.report import number, say, write_json
from workbench.bench.runs import Run, median_rate, start_run, train_argv
from workbench.engine.errors import WorkbenchError
from workbench.engine.formats import table
from workbench.engine.machine.threads import usable_cores

WARMUP_STEPS = 3
SAMPLE_CHARS = 1_500
SCORE_CHARS = 30_000
GOALS = {"busy_loop": 0.60, "two_sessions_total": 0.80, "quiet_vs_every_core": 0.95}


def run_contention_bench(args: argparse.Namespace) -> int:
    if args.vs_seed is not None or args.minutes or args.tui or args.nproc:
        raise WorkbenchError("--contention measures sharing the machine only; leave out --vs-seed, --minutes, "
                             "--tui and --nproc")
    if args.steps < WARMUP_STEPS + 5:
        raise WorkbenchError(f"--steps must be at least {WARMUP_STEPS + 5} with --contention, got {args.steps}")
    cores = usable_cores()
    results: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(_cpu()),
        "config": {"corpus": args.corpus, "hidden": args.hidden, "layers": args.layers, "batch_size": args.batch_size,
                   "seq_length": args.seq_length, "steps": args.steps, "cores": cores, "warmup_steps": WARMUP_STEPS},
        "training": {}, "inference": {}}
    say(f"machine: {results['machine']['summary']}")
    with tempfile.TemporaryDirectory(prefix="workbench-bench-contention-") as tmp:
        tmp_dir = Path(tmp)
        for kind, threads in (("auto", "auto"), ("every core", str(cores))):
            results["training"][kind] = _training(args, threads, tmp_dir, kind.replace(" ", "-"))
        results["inference"] = _inference(args, tmp_dir, cores)
    results["goals"] = _goals(results)
    print(format_contention(results))
    write_json(args, results)
    return 0


def _training(args: argparse.Namespace, threads: str, tmp: Path, tag: str) -> dict[str, Any]:
    argv = [*train_argv(args), "--threads", threads]
    folder = tmp / "sessions"

    def measure(name: str, beside: Callable[[], Any] | None = None, together: bool = False) -> list[float]:
        say(f"training ({tag} threads): {name.replace('-', ' ')}")
        neighbour = beside() if beside else None
        try:
            runs = [start_run(argv, folder, f"{tag}-{name}-{i}", tmp) for i in range(2 if together else 1)]
            return [median_rate(run.wait(), WARMUP_STEPS) for run in runs]
        finally:
            if neighbour is not None:
                neighbour.kill()
                neighbour.wait()

    quiet = measure("quiet")[0]
    busy = measure("beside-a-busy-loop", _busy_loop)[0]
    two = measure("two-sessions-at-once", together=True)
    return {"quiet": quiet, "busy_loop": busy, "busy_loop_ratio": busy / quiet, "two_sessions": two,
            "two_sessions_ratios": [rate / quiet for rate in two], "two_sessions_total_ratio": sum(two) / quiet}


def _busy_loop() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _inference(args: argparse.Namespace, tmp: Path, cores: int) -> dict[str, Any]:
    """Sampling and scoring with a model trained here, quiet and beside a trainer."""
    import torch

    from workbench.bench.throughput import measure_sampling
    from workbench.engine.infer.inference import load_model
    from workbench.engine.infer.probe import score_pieces

    folder = tmp / "sessions"
    model_name = "auto-quiet-0"
    figures: dict[str, Any] = {}
    for kind, threads in (("auto", None), ("every core", cores)):
        for where in ("quiet", "beside a trainer"):
            trainer: Run | None = None
            if where != "quiet":
                trainer = start_run([*train_argv(args, steps=1_000_000), "--threads", "auto" if threads is None
                                     else str(cores)], folder, f"neighbour-{kind.replace(' ', '-')}", tmp)
                _wait_training(trainer)
            try:
                say(f"sampling and scoring ({kind} threads), {where}")
                model, vocab, _ = load_model(_session(folder, model_name), device="cpu", threads=threads)
                sample = measure_sampling(model, vocab, SAMPLE_CHARS)["sample_chars_per_sec"]
                text = _text(args, SCORE_CHARS, vocab)
                t0 = time.perf_counter()
                score_pieces(model, vocab, [text])
                score = len(text) / (time.perf_counter() - t0)
                figures[f"{kind}, {where}"] = {"sample": sample, "score": score, "threads": torch.get_num_threads()}
            finally:
                if trainer is not None:
                    trainer.stop()
    for kind in ("auto", "every core"):
        quiet, busy = figures[f"{kind}, quiet"], figures[f"{kind}, beside a trainer"]
        busy["sample_ratio"] = busy["sample"] / quiet["sample"]
        busy["score_ratio"] = busy["score"] / quiet["score"]
    return figures


def _session(folder: Path, name: str) -> Any:
    from workbench.engine.sessions.session import Session

    return Session(folder / name)


def _wait_training(run: Run, timeout: float = 300.0) -> None:
    """Until the neighbour has logged a few steps (it is training, not loading)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.process.poll() is not None:
            run.wait()  # raises with its last words
        if run.session.status_path.exists() and run.session.read_status().get("step", 0) >= WARMUP_STEPS:
            return
        time.sleep(0.2)
    raise WorkbenchError(f"the neighbouring trainer {run.name} did not start training within {timeout:.0f} s",
                         exit_code=1)


def _text(args: argparse.Namespace, chars: int, vocab: list[str]) -> str:
    from workbench.engine.corpus.load import CorpusSpec, load_corpus

    corpus = load_corpus(CorpusSpec(args.corpus), progress=None)
    known = set(vocab)
    return "".join(ch for ch in corpus.decode(corpus.ids[: chars * 2]) if ch in known)[:chars]


def _goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    auto, every = results["training"]["auto"], results["training"]["every core"]
    checks = [("busy_loop", "training beside a busy process, share of quiet", auto["busy_loop_ratio"]),
              ("two_sessions_total", "two sessions at once, together, share of one alone",
               auto["two_sessions_total_ratio"]),
              ("quiet_vs_every_core", "quiet: auto against every core", auto["quiet"] / every["quiet"])]
    return [{"name": name, "label": label, "value": value, "goal": f">= {GOALS[name]:g}", "pass": value >= GOALS[name]}
            for name, label, value in checks]


def format_contention(results: dict[str, Any]) -> str:
    c, m = results["config"], results["machine"]
    lines = [f"workbench bench --contention, {results['date_utc']}", f"machine: {m['summary']}",
             f"config:  lstm {c['hidden']}x{c['layers']}, batch {c['batch_size']}, seq {c['seq_length']}, "
             f"{c['steps']} steps a run ({c['warmup_steps']} warm-up steps left out), {c['cores']} usable cores", ""]
    rows = [("training chars/s", "auto threads", "share", f"every core ({c['cores']})", "share")]
    a, e = results["training"]["auto"], results["training"]["every core"]
    rows.append(("quiet", number(a["quiet"]), "1.00", number(e["quiet"]), "1.00"))
    rows.append(("beside one busy process", number(a["busy_loop"]), f"{a['busy_loop_ratio']:.2f}",
                 number(e["busy_loop"]), f"{e['busy_loop_ratio']:.2f}"))
    for i in range(2):
        rows.append((f"two sessions at once: session {i + 1}", number(a["two_sessions"][i]),
                     f"{a['two_sessions_ratios'][i]:.2f}", number(e["two_sessions"][i]),
                     f"{e['two_sessions_ratios'][i]:.2f}"))
    rows.append(("two sessions at once: together", number(sum(a["two_sessions"])),
                 f"{a['two_sessions_total_ratio']:.2f}", number(sum(e["two_sessions"])),
                 f"{e['two_sessions_total_ratio']:.2f}"))
    lines += table(rows, align="lrrrr", rule=True)
    lines.append("")
    rows = [("sampling / scoring chars/s", "auto threads", "share", "every core", "share")]
    inf = results["inference"]
    for what, key in (("sampling, one stream", "sample"), ("scoring", "score")):
        qa, ba = inf["auto, quiet"], inf["auto, beside a trainer"]
        qe, be = inf["every core, quiet"], inf["every core, beside a trainer"]
        rows.append((f"{what}, quiet", f"{number(qa[key])} ({qa['threads']}t)", "1.00",
                     f"{number(qe[key])} ({qe['threads']}t)", "1.00"))
        rows.append((f"{what}, beside a trainer", f"{number(ba[key])} ({ba['threads']}t)",
                     f"{ba[key + '_ratio']:.2f}", f"{number(be[key])} ({be['threads']}t)", f"{be[key + '_ratio']:.2f}"))
    lines += table(rows, align="lrrrr", rule=True)
    lines.append("")
    for goal in results["goals"]:
        lines.append(f"{'PASS' if goal['pass'] else 'MISS'}  {goal['label']}: {goal['value']:.2f} (goal {goal['goal']})")
    return "\n".join(lines)



def _cpu() -> Any:
    import torch

    return torch.device("cpu")
