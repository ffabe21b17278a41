"""`workbench bench`: speed and quality figures on this machine, printed with ratios against
the reference baseline when it is given (`--vs-seed PATH` to `seed_baseline.py`).

    args.py        its command line (the parser imports it, so it imports nothing heavy)
    throughput.py  ours: training and sampling speed, the fixed wall-clock race; the run itself
    baseline.py    the reference implementation, run back to back with ours on the same text
    encoding.py    corpus encoding speed and peak memory on a large text
    tui.py         training speed with the terminal UI open against headless
    scaling.py     training speed of a group of processes (--nproc) against one
    contention.py  sharing the machine (--contention): beside a busy process, two sessions at once
    scoring.py     `workbench score`'s speed against the model's bare forward
    quality.py     model quality (--quality): the notebook's settings against the tuned preset
    runs.py        the `workbench train` runs those start, and the speed they read back
    machine.py     what this machine is, for the report
    report.py      the goals and the printed tables
"""
from __future__ import annotations

import argparse


def run_bench(args: argparse.Namespace) -> int:
    from workbench.bench.args import apply_defaults, check_args

    apply_defaults(args)
    check_args(args)
    if args.quality:
        from workbench.bench.quality import run_quality_bench

        return run_quality_bench(args)
    if args.tui:
        from workbench.bench.tui import run_tui_bench

        return run_tui_bench(args)
    if args.contention:
        from workbench.bench.contention import run_contention_bench

        return run_contention_bench(args)
    if args.nproc:
        from workbench.bench.scaling import run_scaling_bench

        return run_scaling_bench(args)
    from workbench.bench.throughput import run_throughput_bench

    return run_throughput_bench(args)
