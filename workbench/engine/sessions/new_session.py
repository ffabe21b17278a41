"""Creating a session from a config: every check that can fail runs before anything is
written, so bad input never leaves a half-made session behind. Used by `workbench train`
and by the terminal UI's new-session form."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from workbench.corpora import catalog
from workbench.engine.config import SampleSettings, TrainConfig
from workbench.engine.corpus.checks import check_fits
from workbench.engine.corpus.encode import encode_text
from workbench.engine.corpus.load import Corpus, CorpusSpec, load_corpus
from workbench.engine.errors import WorkbenchError
from workbench.engine.machine.gpus import visible_gpus
from workbench.engine.machine.memory import cpu_memory_check
from workbench.engine.sessions.session import Session, check_new_name, unique_session_name  # check_new_name: for callers


def prepare_corpus(config: TrainConfig, *, prime_given: bool, progress: TextIO | None = None) -> tuple[TrainConfig, Corpus, list[str]]:
    """Load and check the corpus for `config`. Returns the config (its sample prime adjusted
    when the default prime does not fit the corpus), the corpus and notes for the user."""
    config.validate()
    corpus = load_corpus(CorpusSpec.of(config), progress=progress)
    check_fits(len(corpus), config.val_frac, config.batch_size, config.seq_length)
    if config.device == "cpu" or (config.device == "auto" and not visible_gpus()):
        cpu_memory_check(config, len(corpus.vocab))  # a GPU's memory is checked once torch is up
    if catalog.entry(config.corpus) is None:  # a file: stored absolute, so a resume works from any folder
        config = replace(config, corpus=str(Path(config.corpus).expanduser().resolve()))
    if config.device not in ("auto", "cpu"):  # those always work; the others need torch to check
        from workbench.engine.machine.device import resolve_device

        resolve_device(config.device)  # an unusable device is an error before anything is written
    notes: list[str] = []
    if prime_given:
        try:
            encode_text(config.sample.prime, corpus.vocab)
        except WorkbenchError as exc:
            raise WorkbenchError(f"--prime: {exc}") from None
    elif fitting_prime(config.sample.prime, corpus) != config.sample.prime:
        fallback = fitting_prime(config.sample.prime, corpus)
        notes.append(f"the default prime {SampleSettings().prime!r} uses characters this corpus lacks; "
                     f"samples start from {fallback!r}")
        config = replace(config, sample=replace(config.sample, prime=fallback))
    return config, corpus, notes


def fitting_prime(prime: str, corpus: Corpus) -> str:
    """`prime` when the corpus has every character of it, else the corpus's first character
    (a prime the model can read, where the default "The " cannot be)."""
    if set(prime) <= set(corpus.vocab):
        return prime
    return corpus.vocab[int(corpus.ids[0])]


def create_session(sessions_dir: Path, config: TrainConfig, corpus: Corpus, name: str | None = None) -> Session:
    """The session folder for a checked config and its loaded corpus (a name is made up from
    the corpus, the model and the time when none is given)."""
    name = name if name is not None else unique_session_name(
        sessions_dir, f"{corpus.name}-{config.cell}{config.hidden}x{config.layers}-{time.strftime('%Y%m%d-%H%M%S')}")
    info = {"name": corpus.name, "origin": corpus.origin, "chars": len(corpus), "vocab_size": len(corpus.vocab),
            "notes": corpus.notes, "fingerprint": corpus.fingerprint()}
    return Session.create(sessions_dir, name, config, info, corpus.vocab)
