"""`workbench bench`: speed and quality figures on this machine, optionally as ratios against
the reference baseline (`--vs-seed PATH` to `seed_baseline.py`, the teaching notebook's method).

What is measured, and how it is kept comparable:

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
* Fixed wall-clock quality (`--minutes`): each side trains for the same wall clock, its
  periodic validation included, and both final models are scored the way the baseline's
  README defines it: mean cross-entropy in nats over every position of the notebook batch
  layout of the last 10% at batch 128 x sequence 100, dropout off, hidden carried from zeros.
* Corpus encoding: speed and peak memory of loading a large text built from the corpus.

The two sides always run one after the other, never at the same time, and on the same
text: with `--vs-seed` a named corpus is read as the plain file the baseline reads (CRLF ->
LF, nothing stripped), so both train on identical characters.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.engine.errors import WorkbenchError

# The goals, for a 2-core CPU; (key, label, threshold).
RATIO_GOALS = (
    ("train_vs_baseline_excl_val", "training chars/s vs baseline excl. its validation", 1.5),
    ("train_vs_baseline_incl_val", "training chars/s vs baseline incl. its validation", 2.5),
    ("sampling_vs_baseline", "sampling chars/s (top-k 5)", 20.0),
)
ENCODING_GOALS = {"mb_per_s": 100.0, "peak_bytes_per_char": 2.0}  # see engine/corpus.py
SCORE_BATCH, SCORE_SEQ = 128, 100  # the baseline README's standard final metric
SAMPLE_PRIME, SAMPLE_TOP_K = "The", 5  # as the baseline samples
SAMPLE_BATCH = 8  # streams in the batched sampling figure
LN2 = math.log(2.0)
DEFAULTS = (("hidden", 512, 256), ("batch_size", 128, 64), ("steps", 20, 60))  # (name, default, with --tui)
TUI_GOAL = 0.97  # training throughput with the UI open, as a fraction of headless
TUI_ROUNDS = 2  # headless, UI, headless, UI: alternating cancels a drift of the machine's speed


def run_bench(args: argparse.Namespace) -> int:
    for name, plain, with_tui in DEFAULTS:  # --tui measures a lighter model unless told otherwise
        if getattr(args, name, None) is None:
            setattr(args, name, with_tui if getattr(args, "tui", False) else plain)
    _check_args(args)
    if getattr(args, "tui", False):
        return run_tui_bench(args)
    baseline = _baseline_path(args.vs_seed) if args.vs_seed is not None else None
    import torch

    threads = torch.get_num_threads()
    try:
        return _run(args, baseline)
    finally:
        torch.set_num_threads(threads)  # --threads (ours and the Trainer's) must not outlive the call


def _run(args: argparse.Namespace, baseline: Path | None) -> int:
    import torch

    from workbench.engine.device import precision_name, resolve_device, resolve_precision

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "mps":
        raise WorkbenchError("workbench bench measures on cpu or cuda; pass --device cpu or --device cuda")
    warmup = 2 if device.type == "cpu" else 10
    if args.steps <= warmup:
        raise WorkbenchError(f"--steps must be more than the {warmup} warm-up steps on {device.type}, got {args.steps}")

    corpus, corpus_file = _load_corpus(args.corpus, plain=baseline is not None, baseline=baseline)
    results: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(device),
        "corpus": {"source": args.corpus, "file": str(corpus_file) if corpus_file else corpus.origin,
                   "read_as": "plain text file (CRLF -> LF)" if baseline is not None else "workbench corpus",
                   "chars": len(corpus), "symbols": len(corpus.vocab), "notes": corpus.notes},
        "config": {"cell": "lstm", "hidden": args.hidden, "layers": args.layers, "batch_size": args.batch_size,
                   "seq_length": args.seq_length, "dropout": 0.5, "optimizer": "adam", "lr": 0.001, "clip": 5.0,
                   "steps": args.steps, "warmup_steps": warmup, "device": str(device),
                   "precision": precision_name(resolve_precision(args.precision, device, args.hidden)),
                   "threads": args.threads, "sample_chars": args.sample_chars, "sample_top_k": SAMPLE_TOP_K},
        "warnings": [],
    }
    _say(f"machine: {results['machine']['summary']}")
    _say(f"corpus: {corpus.describe()}")

    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        tmp_dir = Path(tmp)
        _say(f"ours: {args.steps} training steps at {args.hidden}x{args.layers}, batch {args.batch_size}, "
             f"seq {args.seq_length} on {device}")
        ours, model = _measure_ours(args, corpus, device, warmup, tmp_dir)
        _say(f"ours: sampling {args.sample_chars:,} chars")
        ours.update(_measure_sampling(model, corpus.vocab, args.sample_chars))
        del model
        results["ours"] = ours

        if baseline is not None:
            _say(f"baseline: {args.steps} training steps with {baseline.name} (same configuration)")
            base = _run_baseline(baseline, args, corpus_file, device, tmp_dir, budget=["--steps", str(args.steps)])
            results["baseline"] = base
            _check_same_text(base, corpus, results["warnings"])
            results["ratios"] = {
                "train_vs_baseline_excl_val": ours["train_chars_per_sec"] / base["train_chars_per_sec_excl_val"],
                "train_vs_baseline_incl_val": ours["train_chars_per_sec"] / base["train_chars_per_sec_incl_val"],
                "sampling_vs_baseline": ours["sample_chars_per_sec"] / base["sample_chars_per_sec"],
            }

        if args.minutes:
            results["fixed_time"] = _fixed_time(args, corpus, corpus_file, device, baseline, tmp_dir)

        if args.encoding_mb:
            _say(f"corpus encoding: {args.encoding_mb} MB text")
            results["encoding"] = _measure_encoding(corpus, corpus_file, args.encoding_mb, tmp_dir)

    results["goals"] = _goals(results)
    print(format_table(results))
    _write_json(args, results)
    return 0


# -- checks and inputs ------------------------------------------------------------------------
def _check_args(args: argparse.Namespace) -> None:
    for name in ("hidden", "layers", "batch_size", "seq_length", "steps", "sample_chars"):
        value = getattr(args, name)
        if value < 1:
            raise WorkbenchError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.encoding_mb < 0:
        raise WorkbenchError(f"--encoding-mb must be 0 (skip) or more, got {args.encoding_mb}")
    if args.minutes is not None and not (args.minutes > 0 and math.isfinite(args.minutes)):
        raise WorkbenchError(f"--minutes must be a positive number, got {args.minutes}")
    if args.threads is not None and args.threads < 1:
        raise WorkbenchError(f"--threads must be at least 1, got {args.threads}")


def _baseline_path(path: Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise WorkbenchError(f"--vs-seed {path} {what}; give the path of seed_baseline.py (see its README)")
    return path.resolve()


def _load_corpus(source: str, *, plain: bool, baseline: Path | None):
    """The corpus, and the file it was read from (None for a built-in corpus).

    Against the baseline, a named corpus is read as the plain file the baseline reads (CRLF ->
    LF only), so both sides see the same characters."""
    from workbench.corpora import catalog
    from workbench.engine.corpus import CorpusSpec, load_corpus

    entry = catalog.entry(source)
    if entry is not None and not entry.builtin and plain:
        found = catalog.find_cached(entry.name)
        beside = baseline.parent.parent / "corpora" / f"{entry.name}.txt" if baseline else None
        if found is None and beside is not None and beside.is_file():
            found = beside  # the baseline README's own layout: ../corpora/<name>.txt
        if found is None:
            found = Path(load_corpus(CorpusSpec(source), progress=sys.stderr).origin)  # downloads it
        source = str(found)
    elif entry is not None and entry.builtin and plain:
        raise WorkbenchError(f"the built-in corpus {source!r} has no file for the baseline to read; "
                             "pass a text file with --corpus")
    corpus = load_corpus(CorpusSpec(source), progress=sys.stderr)
    origin = Path(corpus.origin)
    return corpus, (origin if origin.is_file() else None)


def _check_same_text(base: dict, corpus, warnings: list[str]) -> None:
    if base.get("corpus_chars") != len(corpus) or base.get("vocab") != len(corpus.vocab):
        message = (f"the baseline read {base.get('corpus_chars')} chars / {base.get('vocab')} symbols, we read "
                   f"{len(corpus)} / {len(corpus.vocab)}: the two sides did not train on identical text")
        warnings.append(message)
        _say(f"warning: {message}")


def machine_info(device) -> dict[str, Any]:
    import numpy
    import torch

    from workbench.engine.device import describe_device

    cpu = _cpu_model()
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    info: dict[str, Any] = {
        "cpu_model": cpu, "cores": cores, "usable_cores": usable, "memory_gib": _memory_gib(),
        "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
        "device": describe_device(device), "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
    where = info.get("gpu") or f"{cpu}, {usable} of {cores} cores"
    mem = f", {info['memory_gib']:.0f} GiB" if info["memory_gib"] else ""
    info["summary"] = (f"{where}{mem}; torch {torch.__version__}, {info['torch_threads']} threads; "
                       f"device {info['device']}; load average {info['load_average'][0]:.2f}")
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- ours -------------------------------------------------------------------------------------
def _config(args: argparse.Namespace, corpus, device, **overrides):
    from workbench.engine.config import SampleSettings, TrainConfig

    prime = SampleSettings().prime
    if any(ch not in set(corpus.vocab) for ch in prime):
        prime = corpus.vocab[int(corpus.ids[0])]
    settings = dict(
        corpus=corpus.origin, hidden=args.hidden, layers=args.layers, batch_size=args.batch_size,
        seq_length=args.seq_length, dropout=0.5, lr=0.001, optimizer="adam", clip=5.0, device=str(device),
        precision=args.precision, threads=args.threads, sample=SampleSettings(prime=prime),
    )
    settings.update(overrides)
    return TrainConfig(**settings).validate()


def _train(config, corpus, folder: Path, name: str):
    """Run our real Trainer on a throw-away session; returns the trainer and its events."""
    from workbench.engine import events as ev
    from workbench.engine.corpus import check_fits
    from workbench.engine.session import Session
    from workbench.engine.trainer import Trainer

    check_fits(len(corpus), config.val_frac, config.batch_size, config.seq_length)
    info = {"name": corpus.name, "origin": corpus.origin, "chars": len(corpus), "vocab_size": len(corpus.vocab)}
    session = Session.create(folder, name, config, info, corpus.vocab)
    trainer = Trainer(session, corpus=corpus, command="workbench bench")
    seen: list = []
    trainer.subscribe(seen.append)
    final = trainer.run()  # the bus is drained before run() returns, so `seen` is complete
    if isinstance(final, ev.Failed):
        raise WorkbenchError(f"our training run failed: {final.error}", exit_code=1)
    return trainer, seen


def _measure_ours(args, corpus, device, warmup: int, tmp_dir: Path):
    import torch

    from workbench.engine import events as ev
    from workbench.engine.evaluation import validation_loss

    # One progress report per step on the CPU (a step there takes far longer than the report),
    # every 10 steps on an accelerator, where each report is a device sync.
    log_every = 1 if device.type == "cpu" else warmup
    config = _config(args, corpus, device, log_every=log_every, checkpoint_every=0, sample_every=0,
                     max_steps=args.steps)
    trainer, seen = _train(config, corpus, tmp_dir, "throughput")
    started = next(e.time for e in seen if isinstance(e, ev.Started))
    logged = {e.step: e.time for e in seen if isinstance(e, ev.StepsLogged)}
    chars_per_step = args.batch_size * args.seq_length

    # Our periodic estimate costs one cheap pass every eval_every steps. Fewer timed steps than
    # that would leave it out entirely, so its cost is added per step as measured here.
    model = trainer.model
    validation_loss(model, trainer.val_grid, config.eval_batches, trainer.autocast_dtype)  # warm
    _sync(device)
    t0 = time.perf_counter()
    validation_loss(model, trainer.val_grid, config.eval_batches, trainer.autocast_dtype)
    _sync(device)
    eval_seconds = time.perf_counter() - t0

    def rate(first_step: int, t_first: float) -> tuple[float, float]:
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
    }, model


def _measure_sampling(model, vocab: list[str], chars: int) -> dict[str, Any]:
    """One stream of `chars` characters (the figure compared with the baseline, which draws
    one sample), then the same number of characters as SAMPLE_BATCH streams in one batch
    (`workbench sample --num`), for what a batch costs."""
    from workbench.engine.config import SampleSettings
    from workbench.engine.sampling import sample_stream

    prime = SAMPLE_PRIME if all(ch in set(vocab) for ch in SAMPLE_PRIME) else vocab[0]
    figures: dict[str, Any] = {}
    for num, key in ((1, "sample"), (SAMPLE_BATCH, "sample_batch")):
        length = max(1, chars // num)
        warm = SampleSettings(length=min(length, 50), top_k=SAMPLE_TOP_K, prime=prime)
        for _ in sample_stream(model, vocab, warm, num=num, seed=0):
            pass
        settings = SampleSettings(length=length, top_k=SAMPLE_TOP_K, prime=prime)
        produced, pieces = 0, []
        t0 = time.perf_counter()
        for piece in sample_stream(model, vocab, settings, num=num, seed=1):
            produced += sum(len(p) for p in piece)
            pieces.append(piece[0])
        seconds = time.perf_counter() - t0  # each piece reaches the host: no sync is missing
        figures.update({f"{key}_chars": produced, f"{key}_seconds": seconds, f"{key}_chars_per_sec": produced / seconds})
        if num == 1:
            figures["sample_text"] = (prime + "".join(pieces))[:300]
    figures["sample_batch_num"] = SAMPLE_BATCH
    return figures


def score(model, corpus, device) -> tuple[float, int]:
    """The baseline README's standard metric for `model`: mean cross-entropy (nats) over all
    positions of the 128 x 100 notebook layout of the last 10%, dropout off, hidden from zeros."""
    from workbench.engine.batches import WindowGrid
    from workbench.engine.evaluation import as_tensor_ids, validation_loss

    _, val_ids = corpus.split(0.1)
    grid = WindowGrid(as_tensor_ids(val_ids, device), SCORE_BATCH, SCORE_SEQ)
    return validation_loss(model, grid), len(grid) * SCORE_BATCH * SCORE_SEQ


def _sync(device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


# -- fixed wall clock ---------------------------------------------------------------------------
def _fixed_time(args, corpus, corpus_file, device, baseline: Path | None, tmp_dir: Path) -> dict[str, Any]:
    from workbench.engine.corpus import check_fits

    try:
        check_fits(len(corpus), 0.1, SCORE_BATCH, SCORE_SEQ)
    except WorkbenchError:
        raise WorkbenchError(f"--minutes scores on {SCORE_BATCH}x{SCORE_SEQ} validation batches, which need a corpus "
                             f"of at least {int(SCORE_BATCH * SCORE_SEQ / 0.1) + 10:,} characters; use a longer one") from None
    out: dict[str, Any] = {"minutes": args.minutes, "score": f"mean CE over get_batches(val, {SCORE_BATCH}, {SCORE_SEQ})"}
    _say(f"ours: training for {args.minutes:g} minutes (our default evaluation, checkpoint and sample intervals)")
    config = _config(args, corpus, device, max_minutes=args.minutes)
    trainer, _ = _train(config, corpus, tmp_dir, "fixed-time")
    t0 = time.perf_counter()
    nats, positions = score(trainer.model, corpus, device)
    out["ours"] = {"steps": trainer.step, "val_loss_nats": nats, "val_bits_per_char": nats / LN2,
                   "val_positions": positions, "score_seconds": time.perf_counter() - t0}
    del trainer
    if baseline is not None:
        _say(f"baseline: training for {args.minutes:g} minutes")
        base = _run_baseline(baseline, args, corpus_file, device, tmp_dir, budget=["--minutes", str(args.minutes)],
                             name="baseline-fixed-time")
        out["baseline"] = {"steps": base["steps"], "val_loss_nats": base["final_val_loss_nats"],
                           "val_bits_per_char": base["final_val_bits_per_char"],
                           "val_positions": base["final_val_positions"]}
        ours_nats, base_nats = nats, base["final_val_loss_nats"]
        out["lower"] = "ours" if ours_nats < base_nats else ("baseline" if base_nats < ours_nats else "tie")
        if out["baseline"]["val_positions"] != positions:
            _say(f"warning: the two sides scored {positions:,} and {out['baseline']['val_positions']:,} positions")
    return out


# -- the baseline -------------------------------------------------------------------------------
def _baseline_env(device) -> dict[str, str]:
    """The baseline picks cuda by itself whenever one is visible: show it the same device."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if device.type == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif device.type == "cuda" and device.index:
        visible = [v for v in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
        env["CUDA_VISIBLE_DEVICES"] = visible[device.index] if device.index < len(visible) else str(device.index)
    return env


def _run_baseline(path: Path, args, corpus_file: Path | None, device, tmp_dir: Path, *, budget: list[str],
                  name: str = "baseline") -> dict[str, Any]:
    if corpus_file is None:
        raise WorkbenchError("the baseline needs a corpus file; pass one with --corpus")
    out = tmp_dir / f"{name}.json"
    command = [sys.executable, str(path), "--corpus", str(corpus_file), *budget, "--json", str(out),
               "--n-hidden", str(args.hidden), "--n-layers", str(args.layers), "--batch-size", str(args.batch_size),
               "--seq-length", str(args.seq_length), "--sample-chars", str(args.sample_chars),
               "--top-k", str(SAMPLE_TOP_K), "--seed", "0"]
    if args.threads:
        command += ["--threads", str(args.threads)]
    lines: list[str] = []
    try:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=_baseline_env(device), cwd=tmp_dir) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("Epoch:"):  # its progress lines, every 10 steps
                    _say(f"  baseline | {line.strip()}")
            rc = proc.wait()
    except OSError as exc:
        raise WorkbenchError(f"could not start the baseline {path}: {exc.strerror or exc}", exit_code=1) from None
    (tmp_dir / f"{name}.log").write_text("\n".join(lines) + "\n")
    if rc != 0:
        last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "no output")
        raise WorkbenchError(f"the baseline {path} failed (exit status {rc}): {last}", exit_code=1)
    try:
        data = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"the baseline {path} wrote no readable results to {out.name} ({exc})", exit_code=1) from None
    needed = ("train_chars_per_sec_excl_val", "train_chars_per_sec_incl_val", "sample_chars_per_sec",
              "final_val_loss_nats", "steps")
    missing = [k for k in needed if not isinstance(data.get(k), (int, float))]
    if missing:
        raise WorkbenchError(f"the baseline {path} results lack {', '.join(missing)}; is it seed_baseline.py?", exit_code=1)
    return data


# -- corpus encoding ----------------------------------------------------------------------------
def _measure_encoding(corpus, corpus_file: Path | None, megabytes: int, tmp_dir: Path) -> dict[str, Any]:
    from workbench.engine.corpus import make_large_text, measure_encoding

    seed = corpus_file
    if seed is None:  # a built-in corpus: write its text out to repeat it
        seed = tmp_dir / "seed.txt"
        seed.write_text(corpus.decode(corpus.ids), encoding="utf-8")
    big = tmp_dir / "encoding-bench.txt"
    try:
        make_large_text(big, megabytes * 1_000_000, seed)
        result = measure_encoding(big)
    except OSError as exc:
        raise WorkbenchError(f"corpus-encoding test: cannot write {megabytes} MB in {tmp_dir} ({exc.strerror or exc}); "
                             "free some space or pass a smaller --encoding-mb", exit_code=1) from None
    finally:
        big.unlink(missing_ok=True)
    result["seed"] = str(seed)
    result.pop("path", None)  # deleted already
    return result


# -- the terminal UI's cost ---------------------------------------------------------------------
def run_tui_bench(args: argparse.Namespace) -> int:
    """Training throughput with the terminal UI open on the session against headless, at the
    same settings. Each round trains a fresh session for `--steps` steps with the same seed:
    headless (`workbench train --headless`), then with the app open on it (`workbench train` in
    a 100x30 tmux pane, TERM=xterm-256color: the app starts the trainer as its own process and
    follows it, as a user sees it). The figure of a run is the median of its per-step chars/s
    after a warm-up (the trainer's own timing of its steps, in metrics.jsonl)."""
    from workbench.engine.device import precision_name, resolve_device, resolve_precision

    if shutil.which("tmux") is None:
        raise WorkbenchError("workbench bench --tui runs the terminal UI in tmux, which is not installed "
                             "(apt-get install tmux)")
    if args.vs_seed is not None or args.minutes:
        raise WorkbenchError("--tui measures the UI's cost only; leave out --vs-seed and --minutes")
    device = resolve_device(args.device)
    log_every = 1 if device.type == "cpu" else 10  # each report is a device sync on an accelerator
    skip = max(2 * log_every, args.steps // 6)  # warm-up steps left out of each run's figure
    if args.steps < skip + 5 * log_every:
        raise WorkbenchError(f"--steps must be at least {skip + 5 * log_every} with --tui, got {args.steps}")
    corpus = str(Path(args.corpus).resolve()) if Path(args.corpus).exists() else args.corpus  # runs cd elsewhere
    argv = ["--corpus", corpus, "--hidden", str(args.hidden), "--layers", str(args.layers),
            "--batch-size", str(args.batch_size), "--seq-length", str(args.seq_length), "--steps", str(args.steps),
            "--device", args.device, "--log-every", str(log_every), "--eval-every", "0", "--sample-every", "0",
            "--checkpoint-every", "0", *(["--threads", str(args.threads)] if args.threads else []),
            "--precision", args.precision]
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
    _say(f"machine: {results['machine']['summary']}")
    chars_per_step = args.batch_size * args.seq_length
    rounds: list[dict[str, Any]] = []
    pooled: dict[str, list[float]] = {"headless": [], "ui": []}  # every measured step of each side
    with tempfile.TemporaryDirectory(prefix="workbench-bench-tui-") as tmp:
        folder = Path(tmp) / "sessions"
        for i in range(1, TUI_ROUNDS + 1):
            for side in ("headless", "ui"):
                name = f"{side}-{i}"
                _say(f"round {i}: {args.steps} steps at {args.hidden}x{args.layers}, batch {args.batch_size}, "
                     f"seq {args.seq_length}, {'with the UI open' if side == 'ui' else 'headless'}")
                if side == "ui":
                    session, notes = _tui_run_ui(argv, folder, name, Path(tmp), args.steps)
                else:
                    session, notes = _tui_run_headless(argv, folder, name, Path(tmp))
                results["warnings"] += notes
                figures = _tui_figures(session, skip, chars_per_step)
                pooled[side] += figures.pop("per_step")
                rounds.append({"round": i, "side": side, **figures})
    headless, ui = statistics.median(pooled["headless"]), statistics.median(pooled["ui"])
    wall = {side: statistics.mean(r["wall_chars_per_sec"] for r in rounds if r["side"] == side)
            for side in ("headless", "ui")}
    results["tui"] = {"rounds": rounds, "headless_chars_per_sec": headless, "ui_chars_per_sec": ui,
                      "ratio": ui / headless, "headless_wall_chars_per_sec": wall["headless"],
                      "ui_wall_chars_per_sec": wall["ui"], "wall_ratio": wall["ui"] / wall["headless"]}
    results["goals"] = [{"name": "tui_vs_headless", "label": "training chars/s with the UI open vs headless",
                         "value": ui / headless, "goal": f">= {TUI_GOAL:g}", "pass": ui / headless >= TUI_GOAL}]
    print(format_tui_table(results))
    _write_json(args, results)
    return 0


def _tui_run_headless(argv: list[str], folder: Path, name: str, tmp: Path):
    from workbench.engine.launcher import python_command
    from workbench.engine.session import Session

    log = tmp / f"{name}.log"
    with open(log, "wb") as out:
        rc = subprocess.run(python_command("workbench.cli:main", ["train", *argv, "--session", name, "--headless",
                                                                  "--sessions-dir", str(folder)]),
                            stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, cwd=tmp).returncode
    if rc != 0:
        last = next((ln for ln in reversed(log.read_text(errors="replace").splitlines()) if ln.strip()), "no output")
        raise WorkbenchError(f"the headless run failed (exit status {rc}): {last}", exit_code=1)
    return Session(folder / name), []


def _tui_run_ui(argv: list[str], folder: Path, name: str, tmp: Path, steps: int):
    """`workbench train` (the app) in a detached tmux session of its own server; returns once
    its trainer has ended. Fails with the screen's last words if the app leaves early or the
    run makes no progress."""
    from workbench.engine.launcher import python_command
    from workbench.engine.session import ACTIVE_STATES, Session

    server = ["tmux", "-L", f"workbench-bench-{os.getpid()}", "-f", "/dev/null"]
    command = "exec env -u COLUMNS -u LINES TERM=xterm-256color " + shlex.join(
        python_command("workbench.cli:main", ["train", *argv, "--session", name, "--sessions-dir", str(folder)]))

    def screen() -> str:
        r = subprocess.run([*server, "capture-pane", "-p", "-t", f"={name}:"], capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else ""

    def alive() -> bool:
        return subprocess.run([*server, "has-session", "-t", f"={name}"], capture_output=True).returncode == 0

    def fail(what: str, last: str) -> WorkbenchError:
        lines = [ln.strip() for ln in last.splitlines() if ln.strip()]
        return WorkbenchError(f"the run with the UI open {what}; its screen: {' | '.join(lines[:4]) or '(empty)'}",
                              exit_code=1)

    session, notes, seen_running, last = Session(folder / name), [], False, ""
    subprocess.run([*server, "new-session", "-d", "-s", name, "-x", "100", "-y", "30", "-c", str(tmp), command],
                   check=True, capture_output=True)
    try:
        moved = time.monotonic()
        step = -1
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
                last = screen()  # once, half way: the app must be showing the run
                seen_running = "RUNNING" in last
                if not seen_running:
                    notes.append(f"{name}: the screen did not show RUNNING half way through")
            if not alive():
                raise fail("exited before its trainer ended", last)
            if time.monotonic() - moved > 120:
                raise fail("made no progress for 2 minutes", screen())
    finally:
        subprocess.run([*server, "kill-server"], capture_output=True)
        socket = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / server[2]
        socket.unlink(missing_ok=True)  # tmux leaves it behind when its last session ends by itself
        holder = session.lock_holder()
        if holder and holder.get("pid"):  # a failed measurement leaves no trainer behind
            try:
                os.kill(int(holder["pid"]), signal.SIGTERM)
            except OSError:
                pass
    return session, notes


def _tui_figures(session, skip: int, chars_per_step: int) -> dict[str, Any]:
    from workbench.engine.session import read_jsonl

    steady = [r for r in read_jsonl(session.metrics_path) if r.get("step", 0) > skip and r.get("chars_per_sec")]
    if len(steady) < 2:
        raise WorkbenchError(f"run {session.name}: too few logged steps after the warm-up to measure", exit_code=1)
    first, last = steady[0], steady[-1]
    seconds = max(last["time"] - first["time"], 1e-9)
    return {"per_step": [r["chars_per_sec"] for r in steady],
            "median_chars_per_sec": statistics.median(r["chars_per_sec"] for r in steady),
            "wall_chars_per_sec": (last["step"] - first["step"]) * chars_per_step / seconds,
            "steps_measured": len(steady)}


def format_tui_table(results: dict[str, Any]) -> str:
    c, t = results["config"], results["tui"]
    goal = results["goals"][0]
    lines = [
        f"workbench bench --tui, {results['date_utc']}",
        f"machine: {results['machine']['summary']}",
        f"config:  lstm {c['hidden']}x{c['layers']}, batch {c['batch_size']}, seq {c['seq_length']}, "
        f"{c.get('precision', 'fp32')}, {c['steps']} steps "
        f"a run ({c['warmup_steps']} warm-up steps left out), log every {c['log_every']}; UI in {c['terminal']}",
        "",
        "round  side       chars/s (median of steps)  chars/s (wall clock)",
    ]
    for r in t["rounds"]:
        side = "UI open" if r["side"] == "ui" else "headless"
        lines.append(f"{r['round']:>5}  {side:<9}  {_n(r['median_chars_per_sec']):>25}  {_n(r['wall_chars_per_sec']):>20}")
    lines += [
        "",
        f"headless: {_n(t['headless_chars_per_sec'])} chars/s; UI open: {_n(t['ui_chars_per_sec'])} chars/s",
        f"ratio UI open / headless: {t['ratio']:.3f} (goal {goal['goal']}): {'PASS' if goal['pass'] else 'MISS'}"
        f"  (wall clock: {t['wall_ratio']:.3f})",
    ]
    lines.extend(f"warning: {w}" for w in results["warnings"])
    return "\n".join(lines)


def _write_json(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if args.json is None:
        return
    try:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise WorkbenchError(f"cannot write --json {args.json}: {exc.strerror or exc}", exit_code=1) from None
    _say(f"results written to {args.json}")


# -- report -------------------------------------------------------------------------------------
def _goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    goals = []
    for key, label, threshold in RATIO_GOALS:
        value = results.get("ratios", {}).get(key)
        if value is not None:
            goals.append({"name": key, "label": label, "value": value, "goal": f">= {threshold:g}x",
                          "pass": value >= threshold})
    fixed = results.get("fixed_time") or {}
    if "baseline" in fixed:
        goals.append({"name": "fixed_time_val_loss", "label": f"validation loss after {fixed['minutes']:g} min",
                      "value": fixed["ours"]["val_loss_nats"], "goal": "lower than the baseline",
                      "pass": fixed["lower"] == "ours"})
    enc = results.get("encoding")
    if enc:
        goals.append({"name": "encoding_mb_per_s", "label": "corpus encoding MB/s", "value": enc["mb_per_s"],
                      "goal": f">= {ENCODING_GOALS['mb_per_s']:g}", "pass": enc["mb_per_s"] >= ENCODING_GOALS["mb_per_s"]})
        goals.append({"name": "encoding_peak_bytes_per_char", "label": "corpus encoding peak bytes/char",
                      "value": enc["peak_bytes_per_char"], "goal": f"<= {ENCODING_GOALS['peak_bytes_per_char']:g}",
                      "pass": enc["peak_bytes_per_char"] <= ENCODING_GOALS["peak_bytes_per_char"]})
    return goals


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _secs(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 10 else f"{seconds:.2f} s"


def format_table(results: dict[str, Any]) -> str:
    """The human-readable report: context lines, then one row per figure."""
    m, c, ours = results["machine"], results["config"], results["ours"]
    base = results.get("baseline")
    ratios = results.get("ratios", {})
    verdict = {g["name"]: ("PASS" if g["pass"] else "MISS") for g in results["goals"]}
    lines = [
        f"workbench bench, {results['date_utc']}",
        f"machine: {m['summary']}",
        f"corpus:  {results['corpus']['file']} ({results['corpus']['read_as']}): "
        f"{results['corpus']['chars']:,} chars, {results['corpus']['symbols']} symbols",
        f"config:  lstm {c['hidden']}x{c['layers']}, batch {c['batch_size']}, seq {c['seq_length']}, dropout 0.5, "
        f"Adam 1e-3, clip 5; ours in {c.get('precision', 'fp32')} (the baseline fp32); {c['steps']} timed steps, {ours['params']:,} parameters",
        "",
    ]
    rows = [("figure", "ours", "baseline", "ratio", "goal", "")]

    def ratio_row(label: str, ours_value, base_value, key: str | None) -> None:
        ratio = ratios.get(key) if key else None
        goal = next((f">= {t:g}x" for k, _, t in RATIO_GOALS if k == key), "")
        rows.append((label, _n(ours_value), _n(base_value), f"{ratio:.2f}x" if ratio else "-",
                     goal if ratio else "", verdict.get(key, "")))

    ratio_row("training chars/s vs baseline excl. its validation", ours["train_chars_per_sec"],
              base and base["train_chars_per_sec_excl_val"], "train_vs_baseline_excl_val")
    ratio_row("training chars/s vs baseline incl. its validation", ours["train_chars_per_sec"],
              base and base["train_chars_per_sec_incl_val"], "train_vs_baseline_incl_val")
    rows.append((f"  ours steady state (after {c['warmup_steps']} warm-up steps)",
                 _n(ours["train_chars_per_sec_steady"]), "", "", "", ""))
    ratio_row(f"sampling chars/s (top-k {SAMPLE_TOP_K}, {c['sample_chars']:,} chars)", ours["sample_chars_per_sec"],
              base and base["sample_chars_per_sec"], "sampling_vs_baseline")
    if "sample_batch_chars_per_sec" in ours:
        rows.append((f"  ours, {ours['sample_batch_num']} samples in one batch (--num), all chars/s",
                     _n(ours["sample_batch_chars_per_sec"]), "", "", "", ""))
    fixed = results.get("fixed_time")
    if fixed:
        fb = fixed.get("baseline")
        label = f"val loss after {fixed['minutes']:g} min, nats (bpc)"
        rows.append((label, f"{fixed['ours']['val_loss_nats']:.4f} ({fixed['ours']['val_bits_per_char']:.3f})",
                     f"{fb['val_loss_nats']:.4f} ({fb['val_bits_per_char']:.3f})" if fb else "-",
                     f"{fixed['lower']} lower" if fb else "-", "lower" if fb else "",
                     verdict.get("fixed_time_val_loss", "")))
        rows.append(("  steps in that time", _n(fixed["ours"]["steps"]), _n(fb["steps"]) if fb else "-", "", "", ""))
    enc = results.get("encoding")
    if enc:
        size = f"{enc['bytes'] / 1e6:,.0f} MB"
        rows.append((f"corpus encoding MB/s ({size} text)", _n(enc["mb_per_s"], 1), "", "",
                     f">= {ENCODING_GOALS['mb_per_s']:g}", verdict["encoding_mb_per_s"]))
        rows.append(("corpus encoding peak memory, bytes/char", _n(enc["peak_bytes_per_char"], 2), "", "",
                     f"<= {ENCODING_GOALS['peak_bytes_per_char']:g}", verdict["encoding_peak_bytes_per_char"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:4], widths[1:4])]
        cells += [row[4].ljust(widths[4]), row[5]]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    if base:
        lines.append("")
        lines.append(f"baseline: {base['steps']} steps, its validation took {_secs(base['periodic_val_seconds'])} of "
                     f"{_secs(base['train_seconds_total'])}; ours: {ours['steps']} steps in {_secs(ours['train_seconds'])} "
                     f"including our periodic estimate ({ours['eval_batches']} batches every {ours['eval_every']} steps)")
    if c["device"].startswith("cuda"):
        lines.append("note: the goals are set for a 2-core CPU; on a GPU the ratios are for information")
    lines.extend(f"warning: {w}" for w in results["warnings"])
    return "\n".join(lines)
