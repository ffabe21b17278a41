"""What a run needs before its first step: the session's text, checked against the vocabulary
it was trained on, and the device and precision it trains with."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.corpora import catalog
from workbench.engine.config import TrainConfig
from workbench.engine.corpus.checks import check_fits
from workbench.engine.corpus.load import Corpus, CorpusSpec, load_corpus
from workbench.engine.device import precision_name, precision_warning, resolve_device, resolve_precision
from workbench.engine.errors import WorkbenchError
from workbench.engine.session import Session


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


def checked_corpus(session: Session, config: TrainConfig, corpus: Corpus | None) -> tuple[Corpus, list[str]]:
    """The session's text (loaded unless given) and the vocabulary it was trained on, which the
    text must still have; vocab.json is repaired from a checkpoint when lost (we hold the lock)."""
    if corpus is None:
        corpus = load_corpus(CorpusSpec(corpus_source(session, config), config.encoding, config.keep_crlf),
                             progress=None)
    vocab = session.read_vocab(fallback=corpus.vocab, repair=True)
    if corpus.vocab != vocab:
        missing = sorted(set(corpus.vocab) - set(vocab))
        raise WorkbenchError(
            f"the corpus {config.corpus!r} no longer matches the vocabulary of session {session.name!r}"
            + (f" (new characters {''.join(missing)!r})" if missing else "")
            + "; restore the original text or start a new session"
        )
    check_fits(len(corpus), config.val_frac, config.batch_size, config.seq_length)
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


def choose_hardware(config: TrainConfig) -> Hardware:
    """The device and precision of the run; torch's thread count and TF32 set for it."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    if device.type == "cuda":
        # TF32 matmuls: ~8x the fp32 rate on Ampere and later, ample precision for this.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = resolve_precision(config.precision, device, config.hidden)
    return Hardware(device, autocast, precision_name(autocast), precision_warning(config.precision, device))
