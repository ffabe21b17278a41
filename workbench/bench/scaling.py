"""`workbench bench --nproc N`: training speed of one process and of a group of N at the same
global batch, and how well the group scales.

Each side trains a fresh session through the command line as a user runs it (`workbench train
--headless`, with `--nproc N` for the group, which torchrun starts), one after the other. The
figure of a run is the median of its per-step chars/s after a warm-up (the trainer's own
timing, in metrics.jsonl). On the CPU both sides have the same cores (one process with
torch's threads, or N processes of one thread each), so the efficiency is the ratio of the
two speeds; on GPUs the group has N devices, so it is that ratio divided by N. The group's
cost of agreeing on commands (distributed.Control) is measured by the group itself."""
from __future__ import annotations

import argparse
import statistics
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.bench.machine import machine_info
from workbench.bench.report import number, say, write_json
from workbench.bench.runs import steady_rates, train_argv, train_run
from workbench.engine.errors import WorkbenchError


def run_scaling_bench(args: argparse.Namespace) -> int:
    from workbench.engine.machine.device import resolve_device
    from workbench.engine.processes.group import check_processes

    if args.vs_seed is not None or args.minutes or args.tui:
        raise WorkbenchError("--nproc measures the group's scaling only; leave out --vs-seed, --minutes and --tui")
    if args.nproc < 2:
        raise WorkbenchError(f"--nproc must be at least 2 to measure a group, got {args.nproc}")
    check_processes(args.device, args.nproc)
    device = resolve_device(args.device)
    skip = 2 if device.type == "cpu" else 10
    if args.steps < skip + 5:
        raise WorkbenchError(f"--steps must be at least {skip + 5} with --nproc, got {args.steps}")
    results: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(device),
        "config": {"corpus": args.corpus, "hidden": args.hidden, "layers": args.layers, "batch_size": args.batch_size,
                   "seq_length": args.seq_length, "steps": args.steps, "warmup_steps": skip, "device": str(device)},
        "runs": [], "warnings": []}
    say(f"machine: {results['machine']['summary']}")
    with tempfile.TemporaryDirectory(prefix="workbench-bench-nproc-") as tmp:
        for processes in (1, args.nproc):
            say(f"{processes} process{'es' if processes > 1 else ''}: {args.steps} steps at {args.hidden}x{args.layers}, "
                f"batch {args.batch_size} (all processes together), seq {args.seq_length} on {device.type}")
            results["runs"].append(_run(args, processes, Path(tmp), skip))
    one, group = results["runs"]
    speedup = group["median_chars_per_sec"] / one["median_chars_per_sec"]
    devices = args.nproc if device.type == "cuda" else 1
    results["scaling"] = {"speedup": speedup, "efficiency": speedup / devices, "devices_ratio": devices}
    print(format_scaling(results))
    write_json(args, results)
    return 0


def _run(args: argparse.Namespace, processes: int, tmp: Path, skip: int) -> dict[str, Any]:
    argv = [*train_argv(args), "--nproc", str(processes), *(["--threads", str(args.threads)] if args.threads else [])]
    session = train_run(argv, tmp / "sessions", f"nproc-{processes}", tmp)
    steady = steady_rates(session, skip)
    status = session.read_status()
    train_seconds = sum(args.batch_size * args.seq_length / rate for rate in steady)
    return {"processes": processes, "median_chars_per_sec": statistics.median(steady), "steps_measured": len(steady),
            "device": status.get("shape") or status.get("device"), "control_checks": status.get("control_checks"),
            "control_seconds": status.get("control_seconds"),
            "control_share": (status.get("control_seconds") or 0.0) / train_seconds if train_seconds else None}


def format_scaling(results: dict[str, Any]) -> str:
    c, s = results["config"], results["scaling"]
    lines = [f"workbench bench --nproc, {results['date_utc']}", f"machine: {results['machine']['summary']}",
             f"config:  lstm {c['hidden']}x{c['layers']}, global batch {c['batch_size']}, seq {c['seq_length']}, "
             f"{c['steps']} steps a run ({c['warmup_steps']} warm-up steps left out)", "",
             "processes  on                    chars/s (median of steps)  command checks (share of training time)"]
    for run in results["runs"]:
        share = run["control_share"]
        checks = (f"{run['control_checks']:,} checks, {share * 100:.3f}%" if run["control_checks"] else "-")
        lines.append(f"{run['processes']:>9}  {str(run['device']):<20}  {number(run['median_chars_per_sec']):>25}  {checks}")
    lines += ["", f"speedup {s['speedup']:.2f}x on {s['devices_ratio']}x the devices: scaling efficiency "
                  f"{s['efficiency']:.2f}"]
    return "\n".join(lines)
