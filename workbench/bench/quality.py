"""`workbench bench --quality`: the notebook's settings against the tuned preset, trained for
the same epochs on the same corpus, one after the other so that each has the machine to itself.

Each side is a `workbench train --headless` as a user runs it (no preset: the notebook's
settings; `--preset tuned`), with a checkpoint, and so a full validation pass, at the end of
every epoch. The report is the validation loss of both after each epoch, the step (and the
time) at which each first reaches the notebook's published final loss, and the wall time of
each run. The goals (issue 18) hold for anna at 20 epochs on the presets' own network."""
from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.bench.machine import machine_info
from workbench.bench.report import say, write_json
from workbench.bench.runs import Run, start_run
from workbench.engine.config import TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.formats import table
from workbench.engine.train.presets import preset_fields
from workbench.engine.sessions.session import Session, read_jsonl

NOTEBOOK_PUBLISHED = 1.2952
"""The notebook's published final validation loss on anna after 20 epochs, in nats."""
TUNED_GOAL = 1.25
"""The tuned preset's goal for its validation loss after the same 20 epochs, in nats."""
GOAL_EPOCHS = 20
SIDES = (("notebook", None), ("tuned", "tuned"))
"""(name, preset): no preset is the notebook's settings, the command line's defaults."""
MODEL_FLAGS = ("hidden", "layers", "batch_size", "seq_length")
"""Bench flags that, given, change both sides' network (a quick look on a small machine)."""


def run_quality_bench(args: argparse.Namespace) -> int:
    from workbench.engine.machine.device import resolve_device

    if args.vs_seed is not None or args.minutes or args.tui or args.nproc or args.contention:
        raise WorkbenchError("--quality compares the notebook's settings with the tuned preset only; leave out "
                             "--vs-seed, --minutes, --tui, --nproc and --contention")
    if args.epochs < 1:
        raise WorkbenchError(f"--epochs must be at least 1, got {args.epochs}")
    device = resolve_device(args.device)
    sides = [(name, side_argv(args, preset)) for name, preset in SIDES]
    configs = {name: side_config(args, preset) for name, preset in SIDES}
    per_epoch = {name: steps_per_epoch(config) for name, config in configs.items()}
    changed = [f"--{n.replace('_', '-')}" for n in MODEL_FLAGS if getattr(args, n) is not None]
    results: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(device),
        "config": {"corpus": args.corpus, "epochs": args.epochs, "device": str(device), "precision": args.precision,
                   "threads": args.threads, "changed": changed},
        "sides": [], "warnings": []}
    say(f"machine: {results['machine']['summary']}")
    with tempfile.TemporaryDirectory(prefix="workbench-bench-quality-") as tmp:
        folder = args.keep_sessions.resolve() if args.keep_sessions else Path(tmp) / "sessions"
        for name, argv in sides:
            argv = [*argv, "--checkpoint-every", str(per_epoch[name])]
            say(f"{name}: {recipe_text(configs[name])}; {args.epochs} epochs of {per_epoch[name]} steps")
            results["sides"].append(train_side(name, argv, folder, Path(tmp), per_epoch[name], configs[name]))
    notebook, tuned = results["sides"]
    official = is_official(args)
    target = NOTEBOOK_PUBLISHED if args.corpus == "anna" else notebook["final_val_loss"]
    results["target"] = {"val_loss": target, "what": "the notebook's published final loss" if args.corpus == "anna"
                         else "the notebook's settings' final loss in this run"}
    for side in results["sides"]:
        side["reached"] = first_at_or_below(side["curve"], target)
    results["goals"] = goals(notebook, tuned) if official else []
    if args.keep_sessions:
        results["config"]["sessions"] = str(args.keep_sessions.resolve())
    if not official:
        results["warnings"].append(f"the goals hold for anna, {GOAL_EPOCHS} epochs and the presets' own network; "
                                   "this run is for information")
    print(format_quality(results))
    write_json(args, results)
    return 0


def side_argv(args: argparse.Namespace, preset: str | None) -> list[str]:
    """`workbench train` arguments of one side: no estimate or sample between the epochs."""
    corpus = str(Path(args.corpus).resolve()) if Path(args.corpus).exists() else args.corpus  # runs cd elsewhere
    argv = ["--corpus", corpus, "--epochs", str(args.epochs), "--device", args.device, "--precision", args.precision,
            "--eval-every", "0", "--sample-every", "0", "--keep-last", "1"]
    argv += ["--preset", preset] if preset else []
    for name in MODEL_FLAGS:
        if getattr(args, name) is not None:
            argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return argv + (["--threads", str(args.threads)] if args.threads else [])


def side_config(args: argparse.Namespace, preset: str | None) -> TrainConfig:
    """The config `workbench train` makes of a side's arguments, by the presets' own rules."""
    given = {name: getattr(args, name) for name in MODEL_FLAGS}
    return TrainConfig(corpus=args.corpus, **preset_fields(preset, given), max_epochs=args.epochs,
                       device=args.device, precision=args.precision).validate()


def steps_per_epoch(config: TrainConfig) -> int:
    """Steps of one epoch of this config on its corpus, as the trainer counts them."""
    from workbench.engine.corpus.load import CorpusSpec, load_corpus

    corpus = load_corpus(CorpusSpec.of(config))
    train, _ = corpus.split(config.val_frac)
    steps = len(train) // (config.batch_size * config.seq_length)
    if steps < 1:
        raise WorkbenchError(f"{config.corpus} is too small for one batch of {config.batch_size}x{config.seq_length}")
    return steps


def recipe_text(c: TrainConfig) -> str:
    schedule = c.schedule if c.schedule != "cosine" else (
        f"cosine to {c.min_lr_frac:g}x" + (f" after {c.warmup_steps} warm-up steps" if c.warmup_steps else ""))
    decay = f", weight decay {c.weight_decay:g}" if c.weight_decay else ""
    return (f"{c.cell} {c.hidden}x{c.layers}, dropout {c.dropout:g}, batch {c.batch_size}, seq {c.seq_length}, "
            f"{c.optimizer} lr {c.lr:g} {schedule}{decay}, clip {c.clip:g}")


def train_side(name: str, argv: list[str], folder: Path, tmp: Path, per_epoch: int,
               config: TrainConfig) -> dict[str, Any]:
    started = time.time()
    run = start_run(argv, folder, name, tmp)
    _report_epochs(run, per_epoch, started)
    session = run.wait()
    wall = time.time() - started
    curve = epoch_curve(session, per_epoch, started)
    if not curve:
        raise WorkbenchError(f"the run {name} ended without a full validation; see {run.log}", exit_code=1)
    status = session.read_status()
    return {"name": name, "recipe": recipe_text(config), "config": config.to_dict(), "params": status.get("params"),
            "steps_per_epoch": per_epoch, "steps": status.get("step"), "wall_seconds": wall, "curve": curve,
            "final_val_loss": curve[-1]["val_loss"], "best_val_loss": min(p["val_loss"] for p in curve)}


def _report_epochs(run: Run, per_epoch: int, started: float) -> None:
    """Say each epoch's validation loss as it lands (a side runs for half an hour)."""
    said = 0
    while run.process.poll() is None:
        time.sleep(5)
        curve = epoch_curve(run.session, per_epoch, started) if run.session.metrics_path.exists() else []
        for point in curve[said:]:
            say(f"{run.name}: epoch {point['epoch']:g}, step {point['step']:,}: validation {point['val_loss']:.4f} "
                f"nats after {clock(point['seconds'])}")
        said = max(said, len(curve))


def epoch_curve(session: Session, per_epoch: int, started: float) -> list[dict[str, Any]]:
    """The full validations of a run: epoch, step, loss and seconds since the run began."""
    return [{"epoch": round(r["step"] / per_epoch, 2), "step": r["step"], "val_loss": r["val_loss"],
             "seconds": r.get("time", started) - started}
            for r in read_jsonl(session.metrics_path) if r.get("val_full") and isinstance(r.get("val_loss"), float)]


def first_at_or_below(curve: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The first full validation at or below `target`, or None."""
    return next((p for p in curve if p["val_loss"] <= target), None)


def is_official(args: argparse.Namespace) -> bool:
    return args.corpus == "anna" and args.epochs == GOAL_EPOCHS and all(getattr(args, n) is None for n in MODEL_FLAGS)


def goals(notebook: dict[str, Any], tuned: dict[str, Any]) -> list[dict[str, Any]]:
    half = notebook["steps_per_epoch"] * GOAL_EPOCHS / 2
    reached = tuned["reached"]
    return [
        {"name": "tuned_final_val_loss", "label": f"tuned, validation loss after {GOAL_EPOCHS} epochs (nats)",
         "value": tuned["final_val_loss"], "goal": f"<= {TUNED_GOAL:g}", "pass": tuned["final_val_loss"] <= TUNED_GOAL},
        {"name": "tuned_steps_to_notebook", "label": f"tuned, steps to the notebook's {NOTEBOOK_PUBLISHED}",
         "value": reached["step"] if reached else None, "goal": f"<= {half:,.0f} (half the notebook's)",
         "pass": reached is not None and reached["step"] <= half},
    ]


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


def format_quality(results: dict[str, Any]) -> str:
    c, sides, target = results["config"], results["sides"], results["target"]
    lines = [f"workbench bench --quality, {results['date_utc']}", f"machine: {results['machine']['summary']}",
             f"corpus:  {c['corpus']}, {c['epochs']} epochs a side, one side after the other"
             + (f" (changed for both: {' '.join(c['changed'])})" if c["changed"] else "")]
    lines += [f"{s['name']}:{' ' * (9 - len(s['name']))}{s['recipe']}; {s['params']:,} parameters, "
              f"{s['steps_per_epoch']} steps an epoch" for s in sides]
    lines += ["", "validation loss after each epoch, nats (the full validation pass)"]
    epochs = sorted({p["epoch"] for s in sides for p in s["curve"]})
    by_epoch = [{p["epoch"]: p for p in s["curve"]} for s in sides]
    rows = [("epoch", *(s["name"] for s in sides))]
    rows += [(f"{e:g}", *(f"{b[e]['val_loss']:.4f}" if e in b else "-" for b in by_epoch)) for e in epochs]
    lines += table(rows, align="r" * len(rows[0]), rule=True)
    lines += ["", f"first at or below {target['val_loss']:.4f} ({target['what']}):"]
    for s in sides:
        r = s["reached"]
        where = (f"step {r['step']:,} (epoch {r['epoch']:g}) after {clock(r['seconds'])}" if r
                 else f"not within {c['epochs']} epochs")
        lines.append(f"  {s['name']}: {where}")
    lines.append("wall time: " + ", ".join(f"{s['name']} {clock(s['wall_seconds'])} ({s['steps']:,} steps, best "
                                           f"{s['best_val_loss']:.4f})" for s in sides))
    for g in results["goals"]:
        value = "-" if g["value"] is None else f"{g['value']:,.4f}" if isinstance(g["value"], float) else f"{g['value']:,}"
        lines.append(f"goal: {g['label']}: {value} (goal {g['goal']}): {'PASS' if g['pass'] else 'MISS'}")
    if c.get("sessions"):
        lines.append(f"the two sessions are in {c['sessions']} (workbench sample --sessions-dir ..., compare)")
    lines.extend(f"note: {w}" for w in results["warnings"])
    return "\n".join(lines)

