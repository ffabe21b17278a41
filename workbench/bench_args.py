"""Arguments of `workbench bench`, kept apart so that building the parser stays cheap."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="anna", help="corpus to measure on (default %(default)s)")
    p.add_argument("--vs-seed", type=Path, default=None, metavar="PATH",
                   help="run the reference baseline (seed_baseline.py) back to back at the same configuration")
    p.add_argument("--hidden", type=int, default=None, help="(default 512; 256 with --tui)")
    p.add_argument("--layers", type=int, default=2, help="(default %(default)s)")
    p.add_argument("--batch-size", type=int, default=None, help="(default 128; 64 with --tui)")
    p.add_argument("--seq-length", type=int, default=100, help="(default %(default)s)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps timed for throughput (default 20; with --tui, steps of each run: 60)")
    p.add_argument("--minutes", type=float, default=None,
                   help="also train each side for this wall-clock budget and compare validation loss")
    p.add_argument("--sample-chars", type=int, default=2000, help="(default %(default)s)")
    p.add_argument("--encoding-mb", type=int, default=200, help="size of the corpus-encoding test text, 0 to skip (default %(default)s)")
    p.add_argument("--device", default="auto", help="(default %(default)s)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="ours only (the baseline is fp32): auto is bf16 on CPUs with native bfloat16, "
                        "else fp32; validation loss in the fixed-time race is always scored in fp32 (default %(default)s)")
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch, on both sides (default: torch's choice)")
    p.add_argument("--tui", action="store_true",
                   help="only measure training throughput with the terminal UI open (in a 100x30 tmux pane) "
                        "against headless, at the same settings, alternating two runs of each")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
