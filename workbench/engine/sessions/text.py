"""A session's text: where it is now (a named corpus, or a file that must still be where the
session says), loaded by the session's own settings, and checked to be the text the session was
trained on (the same vocabulary, the same fingerprint) before any step trains on it."""
from __future__ import annotations

from pathlib import Path

from workbench.corpora import catalog
from workbench.engine.config import TrainConfig
from workbench.engine.corpus.checks import check_fits
from workbench.engine.corpus.encode import describe_unknown
from workbench.engine.corpus.load import Corpus, CorpusSpec, load_corpus
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.lock import SessionLock
from workbench.engine.sessions.session import Session


def load_session_text(session: Session, config: TrainConfig | None = None) -> Corpus:
    """The session's text, loaded as it was when the session was made (its encoding, its line
    endings), from where it is now."""
    config = config or session.read_config()
    return load_corpus(CorpusSpec.of(config, corpus_source(session, config)), progress=None)


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
        corpus = load_session_text(session, config)
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
        corpus = load_session_text(session, config)
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
