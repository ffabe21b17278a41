"""How long the terminal UI takes to show the chart of a long run: a session with 100,000
logged steps (the goal: its chart within 1 second of attaching).

The session is built from files shaped like the trainer's (metrics rounded to 6 significant
digits as `Trainer._flush_record` writes them, one line per log interval of 10 steps, a cheap
validation every 100 steps, a full one and a checkpoint every 500, a sample every 5,000:
100,000 metric lines, 2,000 checkpoints, 200 samples). Then the app opens it headless
(`App.run_test()`, as `workbench attach NAME` does in a terminal), and we time, from the
moment the app is created:

  screen   the training screen is mounted
  loaded   the first poll of the folder (the whole history) has reached the screen
  chart    the chart has rendered its canvas with every point loaded (a hook on LossChart.render)

    .venv/bin/python bench/attach_bench.py [--lines 100000] [--samples 200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

t_import = time.perf_counter()
from workbench.engine.config import TrainConfig  # noqa: E402
from workbench.engine.files import write_json_atomic  # noqa: E402
from workbench.engine.sessions.session import Session  # noqa: E402
from workbench.tui.app import WorkbenchApp  # noqa: E402
from workbench.tui.screens.training import TrainingScreen  # noqa: E402
from workbench.tui.widgets.loss_chart import LossChart  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - t_import
LOG_EVERY, EVAL_EVERY, CHECKPOINT_EVERY = 10, 100, 500
WORDS = ("the", "and", "of", "to", "she", "he", "was", "that", "in", "it", "with", "had", "not", "her", "his",
         "Anna", "Levin", "Vronsky", "said", "at", "for", "as", "but", "on", "you", "be", "all", "what")


def build_session(folder: Path, lines: int, samples: int) -> tuple[Session, int, int]:
    """A stopped session with `lines` metric records; returns it and the train/val point counts."""
    rng = random.Random(0)
    vocab = sorted(set(" .,;\n" + "".join(WORDS)))
    steps = lines * LOG_EVERY
    config = TrainConfig(corpus="anna", max_steps=steps, log_every=LOG_EVERY, eval_every=EVAL_EVERY,
                         checkpoint_every=CHECKPOINT_EVERY, sample_every=steps // max(samples, 1) or 1, device="cpu")
    session = Session.create(folder, "long-run", config, {"name": "anna", "origin": "anna", "chars": 1_985_223,
                                                          "vocab_size": len(vocab)}, vocab)
    t0 = time.time() - lines * 2.0
    loss, val_points, best = 4.2, 0, None
    metrics, events, drawn = [], [{"kind": "started", "step": 0, "time": round(t0, 3), "epoch": 0,
                                   "device": "cpu (2 threads)", "params": 3_366_483, "resumed": False,
                                   "total_steps": steps, "steps_per_epoch": 139}], []
    sample_every = config.sample_every
    for i in range(1, lines + 1):
        step = i * LOG_EVERY
        loss = max(0.9, loss * 0.99995 + rng.gauss(0, 0.01))
        t = t0 + i * 2.0
        record = {"step": step, "epoch": round(step / 139, 6), "train_loss": float(f"{loss:.6g}"),
                  "lr": float(f"{0.001 * (1 - step / (2 * steps)):.6g}"),
                  "grad_norm": float(f"{abs(rng.gauss(0.8, 0.2)):.6g}"), "chars_per_sec": round(rng.uniform(24e3, 26e3))}
        if step % EVAL_EVERY == 0:
            val = loss + abs(rng.gauss(0.05, 0.01))
            record.update(val_loss=float(f"{val:.6g}"), val_full=step % CHECKPOINT_EVERY == 0)
            val_points += 1
            if step % CHECKPOINT_EVERY == 0:
                better = best is None or val < best
                best = val if better else best
                events.append({"kind": "checkpoint", "step": step, "time": round(t, 3),
                               "path": f"checkpoints/step-{step:08d}.pt", "reason": "periodic", "best": better})
        record["time"] = round(t, 3)
        metrics.append(json.dumps(record))
        if step % sample_every == 0 and len(drawn) < samples:
            text = " ".join(rng.choice(WORDS) for _ in range(40)) + ".\n" + " ".join(rng.choice(WORDS) for _ in range(20))
            drawn.append(json.dumps({"step": step, "time": t, "text": text, "prime": "The ", "temperature": 1.0,
                                     "top_k": 5, "top_p": None, "length": 200}))
    events.append({"kind": "finished", "step": steps, "time": round(t0 + lines * 2.0, 3), "reason": "stopped",
                   "state": "stopped", "best_val_loss": best})
    session.metrics_path.write_text("\n".join(metrics) + "\n")
    session.samples_path.write_text("\n".join(drawn) + "\n")
    session.events_path.write_text("".join(json.dumps(e) + "\n" for e in events))
    write_json_atomic(session.status_path, {
        "state": "stopped", "step": steps, "epoch": steps // 139, "best_val_loss": best, "params": 3_366_483,
        "device": "cpu (2 threads)", "chars_per_sec": 25_000, "lr": 0.0005, "total_steps": steps,
        "steps_per_epoch": 139, "checkpoint_step": steps, "updated": t0 + lines * 2.0, "pid": None})
    return session, lines, val_points


async def attach_once(folder: Path, name: str, expected: int, size: tuple[int, int]) -> dict[str, float]:
    marks: dict[str, float] = {}
    render, on_mount = LossChart.render, TrainingScreen.on_mount

    def timed_render(chart: LossChart):
        out = render(chart)
        if "chart" not in marks and chart.points == expected:
            marks["chart"] = time.perf_counter()
        return out

    def timed_mount(screen: TrainingScreen) -> None:
        marks.setdefault("screen", time.perf_counter())
        on_mount(screen)

    LossChart.render, TrainingScreen.on_mount = timed_render, timed_mount
    try:
        t0 = time.perf_counter()
        app = WorkbenchApp(folder, session=name)
        async with app.run_test(size=size) as pilot:
            deadline = time.monotonic() + 60
            while "chart" not in marks:
                screen = app.screen
                if "loaded" not in marks and isinstance(screen, TrainingScreen) and screen.loaded:
                    marks["loaded"] = time.perf_counter()
                if time.monotonic() > deadline:
                    raise SystemExit(f"the chart was not drawn with {expected:,} points within 60 s")
                await pilot.pause(0.005)
            marks.setdefault("loaded", marks["chart"])  # both happened between two of our polls
            await pilot.press("q")
    finally:
        LossChart.render, TrainingScreen.on_mount = render, on_mount
    return {key: value - t0 for key, value in marks.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="metric lines (default %(default)s)")
    parser.add_argument("--samples", type=int, default=200, help="samples (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="times the app opens the session (default %(default)s)")
    parser.add_argument("--size", default="100x30", help="terminal size, COLSxROWS (default %(default)s)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        session, train_points, val_points = build_session(folder, args.lines, args.samples)
        mb = session.metrics_path.stat().st_size / 1e6
        print(f"session: {args.lines:,} metric lines ({mb:.1f} MB; {train_points:,} train and {val_points:,} "
              f"validation points), {args.samples} samples; terminal {size[0]}x{size[1]}")
        print(f"importing the app: {IMPORT_SECONDS * 1000:.0f} ms (before the clock starts)")
        runs = []
        for i in range(args.repeat):
            marks = asyncio.run(attach_once(folder, session.name, train_points + val_points, size))
            runs.append(marks)
            print(f"run {i + 1}: screen {marks['screen'] * 1000:6.0f} ms   loaded {marks['loaded'] * 1000:6.0f} ms   "
                  f"chart drawn {marks['chart'] * 1000:6.0f} ms")
    chart = statistics.median(r["chart"] for r in runs)
    print(f"median: chart drawn with all {train_points + val_points:,} points {chart * 1000:.0f} ms after the app "
          f"was created (goal: within 1 s): {'PASS' if chart <= 1.0 else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
