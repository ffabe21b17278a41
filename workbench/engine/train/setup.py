"""What a run needs before its first step: the session's text, checked against the vocabulary
it was trained on; the device and precision it trains with; the model, its optimizer and the
data on the device; and the state of the checkpoint it resumes from."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from workbench.engine.train.batches import WindowGrid
from workbench.engine.sessions.checkpoint import SHAPE_FIELDS, Check, CheckpointError, load_first_good, same_model
from workbench.engine.config import TrainConfig
from workbench.engine.corpus.load import Corpus, CorpusSpec, load_corpus
from workbench.engine.machine.device import precision_name, precision_warning, resolve_device, resolve_precision
from workbench.engine.train.distributed import World, check_divides
from workbench.engine.errors import WorkbenchError
from workbench.engine.machine.memory import available_cpu_bytes, check_fits_memory
from workbench.engine.train.evaluation import as_tensor_ids
from workbench.engine.sessions.session import Session
from workbench.engine.sessions.text import checked_corpus
from workbench.engine.train.step import TrainingStep
from workbench.engine.machine.threads import LoadProbe, ThreadGovernor
from workbench.engine.train.state import RunState, derived_seed, restore_run, seed_everything


def shared_corpus(session: Session, config: TrainConfig, corpus: Corpus | None,
                  world: World) -> tuple[Corpus, list[str]]:
    """`checked_corpus` on rank 0; in a group, every other rank loads the text itself (from the
    same path, or the same named corpus: only rank 0's machine has the session) and must find
    exactly rank 0's text, or it would train on other data."""
    if world.is_main:
        corpus, vocab = checked_corpus(session, config, corpus)
        if not world.distributed:
            return corpus, vocab
        facts = (vocab, len(corpus), corpus.fingerprint())
    facts = world.broadcast(facts if world.is_main else None)
    if world.is_main:
        return corpus, vocab
    vocab, length, fingerprint = facts
    if corpus is None:
        corpus = load_corpus(CorpusSpec.of(config), progress=None)
    if (corpus.vocab, len(corpus), corpus.fingerprint()) != (vocab, length, fingerprint):
        raise WorkbenchError(f"the corpus {config.corpus} on this machine ({len(corpus):,} characters) is not the "
                             f"text rank 0 trains on ({length:,} characters); give every machine the same file")
    return corpus, vocab


@dataclass(frozen=True)
class Hardware:
    device: torch.device
    autocast_dtype: torch.dtype | None
    """bfloat16 under autocast, or None for plain fp32."""
    precision: str
    """How it is shown: "bf16" or "fp32"."""
    warning: str | None
    """For the user when the precision asked for will be slow here."""
    threads: ThreadGovernor | None
    """What chooses the CPU thread count as the machine's load changes (None: fixed)."""


def choose_hardware(config: TrainConfig, world: World, load: LoadProbe) -> Hardware:
    """The device and precision of the run (this rank's GPU in a group on CUDA); torch's thread
    count (from what `load` saw since it was made, unless config.threads says) and TF32 set for it."""
    check_divides(config.batch_size, world.size)
    device = world.device_for(resolve_device(config.device))
    governor = None
    if config.threads:
        torch.set_num_threads(config.threads)
    elif device.type == "cpu" and not world.distributed:  # torchrun gives each of a group's processes 1
        governor = ThreadGovernor(load)
    if device.type == "cuda":
        # TF32 matmuls: ~8x the fp32 rate on Ampere and later, ample precision for this.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = resolve_precision(config.precision, device, config.hidden)
    return Hardware(device, autocast, precision_name(autocast), precision_warning(config.precision, device), governor)


def build_step(config: TrainConfig, vocab: list[str], corpus: Corpus, device: torch.device,
               autocast_dtype: torch.dtype | None, world: World) -> tuple[TrainingStep, WindowGrid]:
    """The data on the device (this process's rows of every batch: all of them alone), then the
    model, its optimizer and its first hidden state, in the order the seed decides them (a
    resume restores the generators after this); the step and the validation grid."""
    c = config
    _check_memory(config, len(vocab), device, world)
    rows = world.row_slice(c.batch_size)
    train_ids, val_ids = corpus.split(c.val_frac)
    train_grid = WindowGrid(as_tensor_ids(train_ids, device), c.batch_size, c.seq_length).row_range(rows)
    val_grid = WindowGrid(as_tensor_ids(val_ids, device), c.batch_size, c.seq_length).row_range(rows)
    seed_everything(c.seed)
    try:
        step = TrainingStep(c, len(vocab), train_grid, device, autocast_dtype, world)
    except (MemoryError, RuntimeError) as exc:  # torch.OutOfMemoryError is a RuntimeError
        if not isinstance(exc, (MemoryError, torch.OutOfMemoryError)) and "allocate" not in str(exc):
            raise
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise WorkbenchError(f"out of memory building a {c.cell} {c.hidden}x{c.layers} model on {device} "
                             f"({reason}); make it smaller or free some memory") from None
    if world.rank:  # its own dropout; rank 0 keeps the stream a single process has
        seed_everything(derived_seed(c.seed, 0, world.rank))
    return step, val_grid


def _check_memory(config: TrainConfig, vocab_size: int, device: torch.device, world: World) -> None:
    """Refuse a model this process cannot train in the memory of its device, before allocating
    it (each process checks its own share: its rows of the batch, every parameter)."""
    mine = replace(config, processes=1, batch_size=max(1, config.batch_size // world.size))
    if device.type == "cpu":
        check_fits_memory(mine, vocab_size, available_cpu_bytes(), "this machine")
    elif device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        check_fits_memory(mine, vocab_size, free, f"GPU {device.index or 0}")


def restore_saved(session: Session, config: TrainConfig, step: TrainingStep, vocab: list[str], device: torch.device,
                  world: World, warnings: list[str]) -> RunState | None:
    """The run restored from the session's newest good checkpoint (rank 0's, sent to every
    rank: no shared file system needed), or None when there is none. Problems the user
    should hear of are added to `warnings`."""
    weights = {name: tuple(tensor.shape) for name, tensor in step.model.state_dict().items()}
    check = same_model(vocab, {name: getattr(config, name) for name in SHAPE_FIELDS}, weights)
    data = _load_newest(session, check, warnings) if world.is_main else None
    if world.distributed:
        data = world.broadcast(data)
    if data is None:
        return None
    state, step.hidden, note = restore_run(data, model=step.model, optimizer=step.optimizer, vocab=vocab,
                                           device=device, session_name=session.name, world=world, seed=config.seed)
    if note:
        warnings.append(note)
    return state


def _load_newest(session: Session, check: Check, warnings: list[str]) -> dict[str, Any] | None:
    # We hold the lock, so any temporary file here is a dead writer's half checkpoint.
    for stale in session.checkpoints_folder().glob(".*.tmp"):
        stale.unlink(missing_ok=True)
    session.check_checkpoint_files()  # before the first step, not when the first save fails
    if not session.has_checkpoint():
        return None
    try:
        data, _, errors = load_first_good(session.restore_candidates(), check)
    except CheckpointError as exc:
        raise WorkbenchError(f"no usable checkpoint in session {session.name!r}: {exc}") from None
    for message in errors:
        warnings.append(f"{message}; resumed from an older checkpoint (step {data['step']})")
    return data
