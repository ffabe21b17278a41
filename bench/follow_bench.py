"""How long a viewer waits for the history of a long run: the first SessionFollower.poll()
of a session with 100,000 logged steps (the budget is 1 s to a drawn chart, so this must
stay well under 0.5 s).

    .venv/bin/python bench/follow_bench.py [--lines 100000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.engine.config import TrainConfig  # noqa: E402
from workbench.engine.sessions.follow import SessionFollower  # noqa: E402
from workbench.engine.sessions.session import Session, read_jsonl  # noqa: E402


def write_history(session: Session, lines: int) -> int:
    """Metric records shaped like the trainer's: every line has the training fields, every
    10th a cheap validation estimate, every 50th a full one."""
    rng = random.Random(0)
    t0 = time.time() - lines
    loss = 4.2
    out = []
    for step in range(1, lines + 1):
        loss = max(0.9, loss * 0.99995 + rng.gauss(0, 0.01))
        record = {"step": step, "epoch": round(step / 1234, 6), "train_loss": loss, "lr": 0.001 * (1 - step / (2 * lines)),
                  "grad_norm": abs(rng.gauss(0.8, 0.2)), "chars_per_sec": rng.uniform(240_000, 260_000)}
        if step % 10 == 0:
            record.update(val_loss=loss + abs(rng.gauss(0.05, 0.01)), val_full=step % 50 == 0)
        record["time"] = t0 + step
        out.append(json.dumps(record))
    data = "\n".join(out) + "\n"
    session.metrics_path.write_text(data)
    return len(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        session = Session.create(Path(tmp), "bench", TrainConfig(), {"name": "bench"}, list("ab"))
        size = write_history(session, args.lines)
        first, first_cpu, again, per_line = [], [], [], []
        for _ in range(args.repeat):
            follower = SessionFollower(session)
            t, c = time.perf_counter(), time.process_time()
            update = follower.poll()
            first.append(time.perf_counter() - t)
            first_cpu.append(time.process_time() - c)
            assert len(update.metrics) == args.lines and update.status is not None
            t = time.perf_counter()
            assert not follower.poll()
            again.append(time.perf_counter() - t)
            t = time.perf_counter()
            read_jsonl(session.metrics_path)
            per_line.append(time.perf_counter() - t)
    print(f"{args.lines:,} metric lines ({size / 1e6:.1f} MB)")
    print(f"first poll:          median {statistics.median(first) * 1000:7.1f} ms  (min {min(first) * 1000:.1f}; "
          f"CPU time median {statistics.median(first_cpu) * 1000:.1f} ms: the difference is other processes' load)")
    print(f"idle poll:           median {statistics.median(again) * 1e6:7.1f} us")
    print(f"json.loads per line: median {statistics.median(per_line) * 1000:7.1f} ms  (session.read_jsonl, for comparison)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
