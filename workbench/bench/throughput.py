"""Our figures, and the run of `workbench bench` that ties them to the baseline's:

* Training: our real Trainer on a throw-away session, at the baseline's hyperparameters
  (dropout 0.5, Adam 1e-3, clip 5) and the configuration given. Our figure includes our own
  periodic cheap validation estimate, amortised when the timed steps are fewer than one
  `eval_every` interval, because that is part of our training loop. The baseline times its
  loop from before its first step, so the ratios use ours timed the same way (warm-up steps
  included); the steady-state figure (first steps left out) is printed beside it.
* Sampling: chars/s of top-k 5 sampling from the trained bench model, prime "The", one sample,
  after a short warm-up (the baseline samples the same way, one Python call per character).
  The same number of characters drawn as 8 samples in one batch is printed beside it, without
  a ratio: the baseline has no batched sampling to compare with.
* Scoring (scoring.py): `workbench score`'s chars/s against the model's bare forward.
* Fixed wall-clock quality (`--minutes`): each side trains for the same wall clock, its
  periodic validation included, and both final models are scored the way the baseline's
  README defines it: mean cross-entropy in nats over every position of the notebook batch
  layout of the last 10% at batch 128 x sequence 100, dropout off, hidden carried from zeros.
* Corpus encoding (encoding.py): speed and peak memory of loading a large text built from the corpus.

The two sides always run one after the other, never at the same time, and on the same
text: with `--vs-seed` a named corpus is read as the plain file the baseline reads (CRLF ->
LF, nothing stripped), so both train on identical characters.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from workbench.bench.baseline import SAMPLE_TOP_K, baseline_path, check_same_text, load_bench_corpus, run_baseline
from workbench.bench.encoding import encoding_figures
from workbench.bench.machine import machine_info
from workbench.bench.report import format_table, goals, say, write_json
from workbench.bench.sampling_floor import FLOOR_CHARS, ROUNDS as FLOOR_ROUNDS, floor_figures
from workbench.bench.scoring import SCORE_CHARS, measure_scoring
from workbench.engine.errors import WorkbenchError
from workbench.engine.units import bits_per_char

SCORE_BATCH, SCORE_SEQ = 128, 100  # the baseline README's standard final metric
SAMPLE_PRIME = "The"  # as the baseline samples
SAMPLE_BATCH = 8  # streams in the batched sampling figure


def run_throughput_bench(args: argparse.Namespace) -> int:
    baseline = baseline_path(args.vs_seed) if args.vs_seed is not None else None
    import torch

    threads = torch.get_num_threads()
    try:
        return _run(args, baseline)
    finally:
        torch.set_num_threads(threads)  # --threads (ours and the Trainer's) must not outlive the call


def _run(args: argparse.Namespace, baseline: Path | None) -> int:
    device, warmup = _device(args)
    corpus, corpus_file = load_bench_corpus(args.corpus, plain=baseline is not None, baseline=baseline)
    results = _header(args, corpus, corpus_file, device, warmup, plain=baseline is not None)
    say(f"machine: {results['machine']['summary']}")
    say(f"corpus: {corpus.describe()}")
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        tmp_dir = Path(tmp)
        say(f"ours: {args.steps} training steps at {args.hidden}x{args.layers}, batch {args.batch_size}, "
            f"seq {args.seq_length} on {device}")
        ours, model = measure_training(args, corpus, device, warmup, tmp_dir)
        say(f"ours: sampling {args.sample_chars:,} chars")
        ours.update(measure_sampling(model, corpus.vocab, args.sample_chars, args.sample_batch))
        say("ours: the floor of one stream (the products alone)")
        ours.update(floor_figures(model, one_stream_segments(model, corpus.vocab, FLOOR_CHARS, FLOOR_ROUNDS)))
        say(f"ours: scoring {SCORE_CHARS:,} chars (workbench score) and the model's forward alone")
        ours.update(measure_scoring(model, corpus))
        del model
        results["ours"] = ours
        if baseline is not None:
            say(f"baseline: {args.steps} training steps with {baseline.name} (same configuration)")
            base = run_baseline(baseline, args, corpus_file, device, tmp_dir, budget=["--steps", str(args.steps)])
            results["baseline"] = base
            check_same_text(base, corpus, results["warnings"])
            results["ratios"] = {
                "train_vs_baseline_excl_val": ours["train_chars_per_sec"] / base["train_chars_per_sec_excl_val"],
                "train_vs_baseline_incl_val": ours["train_chars_per_sec"] / base["train_chars_per_sec_incl_val"],
                "sampling_vs_baseline": ours["sample_chars_per_sec"] / base["sample_chars_per_sec"],
                "sample_batch_vs_baseline": ours["sample_batch_chars_per_sec"] / base["sample_chars_per_sec"],
            }
        if args.minutes:
            results["fixed_time"] = fixed_time(args, corpus, corpus_file, device, baseline, tmp_dir)
        if args.encoding_mb:
            say(f"corpus encoding: {args.encoding_mb} MB text")
            results["encoding"] = encoding_figures(corpus, corpus_file, args.encoding_mb, tmp_dir)
    results["goals"] = goals(results)
    print(format_table(results))
    write_json(args, results)
    return 0


def _device(args: argparse.Namespace) -> tuple[Any, int]:
    """The device to measure on, with --threads applied, and its number of warm-up steps."""
    import torch

    from workbench.engine.machine.device import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "mps":
        raise WorkbenchError("workbench bench measures on cpu or cuda; pass --device cpu or --device cuda")
    warmup = 2 if device.type == "cpu" else 10
    if args.steps <= warmup:
        raise WorkbenchError(f"--steps must be more than the {warmup} warm-up steps on {device.type}, got {args.steps}")
    return device, warmup


def _header(args: argparse.Namespace, corpus: Any, corpus_file: Path | None, device: Any, warmup: int, *,
            plain: bool) -> dict[str, Any]:
    from workbench.engine.machine.device import precision_name, resolve_precision

    return {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(device),
        "corpus": {"source": args.corpus, "file": str(corpus_file) if corpus_file else corpus.origin,
                   "read_as": "plain text file (CRLF -> LF)" if plain else "workbench corpus",
                   "chars": len(corpus), "symbols": len(corpus.vocab), "notes": corpus.notes},
        "config": {"cell": "lstm", "hidden": args.hidden, "layers": args.layers, "batch_size": args.batch_size,
                   "seq_length": args.seq_length, "dropout": 0.5, "optimizer": "adam", "lr": 0.001, "clip": 5.0,
                   "steps": args.steps, "warmup_steps": warmup, "device": str(device),
                   "precision": precision_name(resolve_precision(args.precision, device, args.hidden)),
                   "threads": args.threads, "sample_chars": args.sample_chars, "sample_top_k": SAMPLE_TOP_K},
        "warnings": [],
    }


# -- ours -------------------------------------------------------------------------------------
def bench_config(args: argparse.Namespace, corpus: Any, device: Any, **overrides: Any) -> Any:
    """A TrainConfig at the baseline's hyperparameters and the configuration given."""
    from workbench.engine.config import SampleSettings, TrainConfig
    from workbench.engine.sessions.new_session import fitting_prime

    settings = dict(
        corpus=corpus.origin, hidden=args.hidden, layers=args.layers, batch_size=args.batch_size,
        seq_length=args.seq_length, dropout=0.5, lr=0.001, optimizer="adam", clip=5.0, device=str(device),
        precision=args.precision, threads=args.threads,
        sample=SampleSettings(prime=fitting_prime(SampleSettings().prime, corpus)),
    )
    settings.update(overrides)
    return TrainConfig(**settings).validate()


def train_throwaway(config: Any, corpus: Any, folder: Path, name: str) -> tuple[Any, list[Any]]:
    """Run our real Trainer on a throw-away session; returns the trainer and its events."""
    from workbench.engine.control import events as ev
    from workbench.engine.corpus.checks import check_fits
    from workbench.engine.sessions.new_session import create_session
    from workbench.engine.train.trainer import Trainer

    check_fits(len(corpus), config.val_frac, config.batch_size, config.seq_length)
    session = create_session(folder, config, corpus, name)
    trainer = Trainer(session, corpus=corpus, command="workbench bench")
    seen: list[Any] = []
    trainer.subscribe(seen.append)
    final = trainer.run()  # the bus is drained before run() returns, so `seen` is complete
    if isinstance(final, ev.Failed):
        raise WorkbenchError(f"our training run failed: {final.error}", exit_code=1)
    return trainer, seen


def measure_training(args: argparse.Namespace, corpus: Any, device: Any, warmup: int,
                     tmp_dir: Path) -> tuple[dict[str, Any], Any]:
    from workbench.engine.control import events as ev

    # One progress report per step on the CPU (a step there takes far longer than the report),
    # every 10 steps on an accelerator, where each report is a device sync.
    log_every = 1 if device.type == "cpu" else warmup
    config = bench_config(args, corpus, device, log_every=log_every, checkpoint_every=0, sample_every=0,
                          max_steps=args.steps)
    trainer, seen = train_throwaway(config, corpus, tmp_dir, "throughput")
    started = next(e.time for e in seen if isinstance(e, ev.Started))
    logged = {e.step: e.time for e in seen if isinstance(e, ev.StepsLogged)}
    chars_per_step = args.batch_size * args.seq_length
    eval_seconds = _estimate_seconds(trainer, config, device)

    def rate(first_step: int, t_first: float) -> tuple[float, float]:
        # Our periodic estimate costs one cheap pass every eval_every steps. Fewer timed steps
        # than that would leave it out entirely, so its cost is added per step as measured.
        steps = args.steps - first_step
        evals_done = args.steps // config.eval_every - first_step // config.eval_every
        seconds = logged[args.steps] - t_first + max(0.0, steps / config.eval_every - evals_done) * eval_seconds
        return steps * chars_per_step / seconds, seconds

    whole, whole_seconds = rate(0, started)  # timed like the baseline: from before the first step
    steady, _ = rate(warmup, logged[warmup])
    return {
        "train_chars_per_sec": whole,
        "train_chars_per_sec_steady": steady,
        "train_seconds": whole_seconds,
        "steps": trainer.step,
        "params": trainer.params,
        "eval_every": config.eval_every,
        "eval_batches": config.eval_batches,
        "eval_estimate_seconds": eval_seconds,
    }, trainer.model


def _estimate_seconds(trainer: Any, config: Any, device: Any) -> float:
    """What one cheap validation estimate costs, timed after a warm one."""
    from workbench.engine.train.evaluation import validation_loss

    validation_loss(trainer.model, trainer.val_grid, config.eval_batches, trainer.autocast_dtype)  # warm
    _sync(device)
    t0 = time.perf_counter()
    validation_loss(trainer.model, trainer.val_grid, config.eval_batches, trainer.autocast_dtype)
    _sync(device)
    return time.perf_counter() - t0


def _time_stream(model: Any, vocab: list[str], chars: int, num: int, graph: bool = True) -> tuple[int, float, str]:
    """`chars` characters in all as `num` streams after a short warm-up: characters made,
    seconds, and the first stream's text (with its prime)."""
    from workbench.engine.config import SampleSettings
    from workbench.engine.infer.sampling import sample_stream

    prime = SAMPLE_PRIME if all(ch in set(vocab) for ch in SAMPLE_PRIME) else vocab[0]
    length = max(1, chars // num)
    warm = SampleSettings(length=min(length, 50), top_k=SAMPLE_TOP_K, prime=prime)
    for _ in sample_stream(model, vocab, warm, num=num, seed=0, cuda_graph=graph):
        pass
    settings = SampleSettings(length=length, top_k=SAMPLE_TOP_K, prime=prime)
    produced, pieces = 0, []
    t0 = time.perf_counter()
    for piece in sample_stream(model, vocab, settings, num=num, seed=1, cuda_graph=graph):
        produced += sum(len(p) for p in piece)
        pieces.append(piece[0])
    seconds = time.perf_counter() - t0  # each piece reaches the host: no sync is missing
    return produced, seconds, (prime + "".join(pieces))[:300]


def one_stream_segments(model: Any, vocab: list[str], chars: int, segments: int) -> Callable[[], float]:
    """Chars/s of one sampling stream, `chars` characters a call, for `segments` calls: all
    from one stream, set up (and warmed up by `chars` characters) before the first call, so
    that what each call times is per character only."""
    from workbench.engine.config import SampleSettings
    from workbench.engine.infer.sampling import sample_stream

    prime = SAMPLE_PRIME if all(ch in set(vocab) for ch in SAMPLE_PRIME) else vocab[0]
    settings = SampleSettings(length=(segments + 1) * chars, top_k=SAMPLE_TOP_K, prime=prime)
    stream = sample_stream(model, vocab, settings, num=1, seed=1)
    for _ in range(chars):
        next(stream)

    def segment() -> float:
        t0 = time.perf_counter()
        for _ in range(chars):
            next(stream)
        return chars / (time.perf_counter() - t0)

    return segment


def measure_sampling(model: Any, vocab: list[str], chars: int, batch: int = SAMPLE_BATCH) -> dict[str, Any]:
    """One stream of `chars` characters (the figure compared with the baseline, which draws
    one sample), then the same number of characters as `batch` streams in one batch
    (`workbench sample --num`), for what a batch costs. On CUDA also one stream without the
    CUDA graph (engine/infer/chunk_sampling.py), for what the graph gains."""
    figures: dict[str, Any] = {}
    runs = [(1, "sample", True), (batch, "sample_batch", True)]
    if next(model.parameters()).device.type == "cuda":
        runs.append((1, "sample_eager", False))
    for num, key, graph in runs:
        produced, seconds, text = _time_stream(model, vocab, chars, num, graph)
        figures.update({f"{key}_chars": produced, f"{key}_seconds": seconds, f"{key}_chars_per_sec": produced / seconds})
        if key == "sample":
            figures["sample_text"] = text
    figures["sample_batch_num"] = batch
    if "sample_eager_chars_per_sec" in figures:
        figures["sample_graph_vs_eager"] = figures["sample_chars_per_sec"] / figures["sample_eager_chars_per_sec"]
    return figures


def score(model: Any, corpus: Any, device: Any) -> tuple[float, int]:
    """The baseline README's standard metric for `model`: mean cross-entropy (nats) over all
    positions of the 128 x 100 notebook layout of the last 10%, dropout off, hidden from zeros."""
    from workbench.engine.train.batches import WindowGrid
    from workbench.engine.train.evaluation import as_tensor_ids, validation_loss

    _, val_ids = corpus.split(0.1)
    grid = WindowGrid(as_tensor_ids(val_ids, device), SCORE_BATCH, SCORE_SEQ)
    return validation_loss(model, grid), len(grid) * SCORE_BATCH * SCORE_SEQ


def _sync(device: Any) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


# -- fixed wall clock ---------------------------------------------------------------------------
def fixed_time(args: argparse.Namespace, corpus: Any, corpus_file: Path | None, device: Any,
               baseline: Path | None, tmp_dir: Path) -> dict[str, Any]:
    from workbench.engine.corpus.checks import check_fits

    try:
        check_fits(len(corpus), 0.1, SCORE_BATCH, SCORE_SEQ)
    except WorkbenchError:
        raise WorkbenchError(f"--minutes scores on {SCORE_BATCH}x{SCORE_SEQ} validation batches, which need a corpus "
                             f"of at least {int(SCORE_BATCH * SCORE_SEQ / 0.1) + 10:,} characters; use a longer one") from None
    out: dict[str, Any] = {"minutes": args.minutes, "score": f"mean CE over get_batches(val, {SCORE_BATCH}, {SCORE_SEQ})"}
    say(f"ours: training for {args.minutes:g} minutes (our default evaluation, checkpoint and sample intervals)")
    config = bench_config(args, corpus, device, max_minutes=args.minutes)
    trainer, _ = train_throwaway(config, corpus, tmp_dir, "fixed-time")
    t0 = time.perf_counter()
    nats, positions = score(trainer.model, corpus, device)
    out["ours"] = {"steps": trainer.step, "val_loss_nats": nats, "val_bits_per_char": bits_per_char(nats),
                   "val_positions": positions, "score_seconds": time.perf_counter() - t0}
    del trainer
    if baseline is not None:
        say(f"baseline: training for {args.minutes:g} minutes")
        base = run_baseline(baseline, args, corpus_file, device, tmp_dir, budget=["--minutes", str(args.minutes)],
                            name="baseline-fixed-time")
        out["baseline"] = {"steps": base["steps"], "val_loss_nats": base["final_val_loss_nats"],
                           "val_bits_per_char": base["final_val_bits_per_char"],
                           "val_positions": base["final_val_positions"]}
        base_nats = base["final_val_loss_nats"]
        out["lower"] = "ours" if nats < base_nats else ("baseline" if base_nats < nats else "tie")
        if out["baseline"]["val_positions"] != positions:
            say(f"warning: the two sides scored {positions:,} and {out['baseline']['val_positions']:,} positions")
    return out
