"""Arguments of `workbench bench`, kept apart so that building the parser stays cheap."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from workbench.engine.errors import WorkbenchError

DEFAULTS = (("hidden", 512, 256, 256), ("layers", 2, 2, 2), ("batch_size", 128, 64, 64), ("seq_length", 100, 100, 100),
            ("steps", 20, 60, 40))
"""(name, default, with --tui, with --contention): those two measure on a lighter model."""


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="anna", help="corpus to measure on (default %(default)s)")
    p.add_argument("--vs-seed", type=Path, default=None, metavar="PATH",
                   help="run the reference baseline (seed_baseline.py) back to back at the same configuration")
    p.add_argument("--hidden", type=int, default=None, help="(default 512; 256 with --tui or --contention)")
    p.add_argument("--layers", type=int, default=None, help="(default 2)")
    p.add_argument("--batch-size", type=int, default=None, help="(default 128; 64 with --tui or --contention)")
    p.add_argument("--seq-length", type=int, default=None, help="(default 100)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps timed for throughput (default 20; with --tui, steps of each run: 60)")
    p.add_argument("--minutes", type=float, default=None,
                   help="also train each side for this wall-clock budget and compare validation loss")
    p.add_argument("--sample-chars", type=int, default=2000, help="(default %(default)s)")
    p.add_argument("--sample-batch", type=int, default=8, metavar="N",
                   help="streams in the batched sampling figure (default %(default)s)")
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
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="only measure training of 1 process against a group of N (torchrun, DDP) at the same global "
                        "batch, and the scaling efficiency")
    p.add_argument("--contention", action="store_true",
                   help="only measure sharing the machine: training quiet, beside a busy process and two sessions "
                        "at once, sampling and scoring beside a trainer, with auto threads and with every core "
                        "(default model 256x2, batch 64, 40 steps a run)")
    p.add_argument("--quality", action="store_true",
                   help="only compare model quality: train the notebook's settings and the tuned preset for --epochs "
                        "each, one after the other, and print both validation curves (about half an hour a side "
                        "of 20 epochs on anna on a 2-core CPU); --hidden, --layers, --batch-size, --seq-length "
                        "given change both sides")
    p.add_argument("--epochs", type=int, default=20, help="with --quality: epochs a side (default %(default)s)")
    p.add_argument("--keep-sessions", type=Path, default=None, metavar="DIR",
                   help="with --quality: keep the two sessions in DIR, to sample or compare later "
                        "(default: a temporary folder, removed)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")


def apply_defaults(args: argparse.Namespace) -> None:
    if getattr(args, "quality", False):
        return  # the presets' own network unless one is given (quality.py)
    for name, plain, with_tui, with_contention in DEFAULTS:
        if getattr(args, name, None) is None:
            setattr(args, name, with_tui if args.tui else with_contention if args.contention else plain)


def check_args(args: argparse.Namespace) -> None:
    for name in ("hidden", "layers", "batch_size", "seq_length", "steps", "sample_chars", "sample_batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise WorkbenchError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.encoding_mb < 0:
        raise WorkbenchError(f"--encoding-mb must be 0 (skip) or more, got {args.encoding_mb}")
    if args.minutes is not None and not (args.minutes > 0 and math.isfinite(args.minutes)):
        raise WorkbenchError(f"--minutes must be a positive number, got {args.minutes}")
    if args.threads is not None and args.threads < 1:
        raise WorkbenchError(f"--threads must be at least 1, got {args.threads}")
