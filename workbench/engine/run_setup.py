"""What a run needs before its first step: the session's text, checked against the vocabulary
it was trained on; the device and precision it trains with; the model, its optimizer and the
data on the device; and the state of the checkpoint it resumes from."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from workbench.corpora import catalog
from workbench.engine.batches import WindowGrid
from workbench.engine.checkpoint import SHAPE_FIELDS, Check, CheckpointError, load_first_good, same_model
from workbench.engine.config import TrainConfig
from workbench.engine.corpus.checks import check_fits
from workbench.engine.corpus.encode import describe_unknown
from workbench.engine.corpus.load import Corpus, CorpusSpec, load_corpus
from workbench.engine.device import precision_name, precision_warning, resolve_device, resolve_precision
from workbench.engine.distributed import World, check_divides
from workbench.engine.errors import WorkbenchError
from workbench.engine.memory import available_cpu_bytes, check_fits_memory
from workbench.engine.evaluation import as_tensor_ids
from workbench.engine.lock import SessionLock
from workbench.engine.session import Session
from workbench.engine.step import TrainingStep
from workbench.engine.threads import LoadProbe, ThreadGovernor
from workbench.engine.training_state import RunState, derived_seed, restore_run, seed_everything


def corpus_source(session: Session, config: TrainConfig) -> str:
    """The corpus to load: a name, or a file that must still be where the session says.
    Sessions made before file paths were stored absolute may hold a relative one: it is found
    from where the session was made (corpus.json's origin) if not from here."""
    source = config.corpus
    if catalog.entry(source) is not None:
        return source
    path = Path(source).expanduser()
    if path.exists():
        return source
    origin = session.read_corpus_info().get("origin")
    if not path.is_absolute() and origin and Path(origin).is_file():
        return origin
    raise WorkbenchError(f"session {session.name!r} trains on {origin or source}, which is no longer there; "
                         "put the text back there to continue it (or start a new session)")


def checked_corpus(session: Session, config: TrainConfig, corpus: Corpus | None, *,
                   accept_new_text: bool = False) -> tuple[Corpus, list[str]]:
    """The session's text (loaded unless given) and the vocabulary it was trained on, which the
    text must still have, and the text itself unless `accept_new_text` (check_same_text);
    vocab.json is repaired from a checkpoint when lost (we hold the lock)."""
    if corpus is None:
        corpus = load_corpus(CorpusSpec(corpus_source(session, config), config.encoding, config.keep_crlf),
                             progress=None)
    vocab = session.read_vocab(fallback=corpus.vocab, repair=True)
    if corpus.vocab != vocab:
        new, gone = sorted(set(corpus.vocab) - set(vocab)), sorted(set(vocab) - set(corpus.vocab))
        differ = ([f"new characters {describe_unknown(new)}"] if new else []) + (
            [f"it no longer has {describe_unknown(gone)}"] if gone else [])
        raise WorkbenchError(
            f"the corpus {config.corpus!r} no longer matches the vocabulary of session {session.name!r}"
            f" ({'; '.join(differ) or 'the characters are in another order'}); restore the original text "
            "or start a new session"
        )
    check_fits(len(corpus), config.val_frac, config.batch_size, config.seq_length)
    check_same_text(session, corpus, accept=accept_new_text)
    return corpus, vocab


def accept_new_text(session: Session) -> str | None:
    """`resume --new-text`: the session's text, as it is now, becomes the one it trains on (its
    vocabulary must still be the session's). A note when it had changed, None when it had not."""
    lock = SessionLock(session.lock_path, session.name)
    lock.acquire("workbench resume --new-text")
    try:
        config = session.read_config()
        corpus = load_corpus(CorpusSpec(corpus_source(session, config), config.encoding, config.keep_crlf),
                             progress=None)
        before = session.read_corpus_info()
        checked_corpus(session, config, corpus, accept_new_text=True)
        if before.get("fingerprint") in (None, corpus.fingerprint()):
            return None
        return (f"session {session.name!r} goes on with the changed text: {len(corpus):,} characters "
                f"(it was trained on {before.get('chars', 0):,})")
    finally:
        lock.release()


def check_same_text(session: Session, corpus: Corpus, *, accept: bool = False) -> None:
    """The session's text must be the one it was trained on (corpus.json's fingerprint): an
    edited file with the same characters would otherwise be trained on without a word. With
    `accept` a changed text becomes the session's. Sessions from before fingerprints get the
    text's now. Only the holder of the lock calls this."""
    info = session.read_corpus_info()
    now = corpus.fingerprint()
    if info.get("fingerprint") == now:
        return
    if info.get("fingerprint") is None or accept:
        session.update_corpus_info(fingerprint=now, chars=len(corpus))
        return
    before = info.get("chars")
    size = (f"{before:,} characters then, {len(corpus):,} now" if isinstance(before, int) and before != len(corpus)
            else f"{len(corpus):,} characters, the same characters but not the same text")
    raise WorkbenchError(f"the text of session {session.name!r} ({info.get('origin') or session.read_config().corpus}) "
                         f"changed since it was trained on ({size}); put the original back to continue it, or "
                         f"`workbench resume {session.name} --new-text` to go on training on the new text")


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
        corpus = load_corpus(CorpusSpec(config.corpus, config.encoding, config.keep_crlf), progress=None)
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
