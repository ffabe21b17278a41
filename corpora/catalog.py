"""The named corpora workbench knows, and the folders where their text files are looked for.

A named corpus is a file `<name>.txt` found in the search path (`WORKBENCH_CORPORA`, then the
folder of this package, then the user cache), downloaded from its URL when missing, or, for
`python-help`, text that ships with the Python interpreter itself. Nothing here reads a corpus or
touches the network: engine/corpus/load.py loads, engine/corpus/fetch.py fetches.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Colon-separated (os.pathsep) folders searched for `<name>.txt` before the built-in folders.
SEARCH_ENV = "WORKBENCH_CORPORA"
#: Prefix of the per-corpus URL override, e.g. WORKBENCH_CORPUS_URL_ANNA (for mirrors and tests).
URL_ENV_PREFIX = "WORKBENCH_CORPUS_URL_"


@dataclass(frozen=True)
class Entry:
    """One named corpus."""

    name: str
    """What the user types: `workbench train anna`."""
    title: str
    """Human title, used in messages ("put the text of <title> at ...")."""
    description: str
    """One or two honest sentences: what the text is and what a model trained on it will learn."""
    url: str | None = None
    """Default download URL of a plain-text copy; None for built-ins."""
    alt_urls: tuple[str, ...] = ()
    """Other places the same text can be fetched by hand, named in the "not cached" error."""
    sha256: str | None = None
    """Digest of the file at `url` as workbench knows it; a mismatch is reported, not fatal."""
    gutenberg: bool = False
    """Strip Project Gutenberg's header and licence footer when loading (not only on download),
    so a copy placed by hand is cleaned the same way."""
    builtin: bool = False
    """Text comes from the Python installation; there is no file and no download."""


ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            name="anna",
            title="Anna Karenina",
            description=(
                "Leo Tolstoy's Anna Karenina in Constance Garnett's English translation "
                "(Project Gutenberg ebook 1399), as used by Udacity's char-RNN notebook; "
                "about 2.0M characters of 19th-century prose. Gutenberg's licence footer is "
                "removed when it loads."
            ),
            url=(
                "https://raw.githubusercontent.com/udacity/deep-learning-v2-pytorch/master/"
                "recurrent-neural-networks/char-rnn/data/anna.txt"
            ),
            alt_urls=("https://www.gutenberg.org/cache/epub/1399/pg1399.txt",),
            sha256="568bb39fc78aca98e9db91c4329dcd1aa5ec4c3df3aca2064ce5d6f023ae16c9",
            gutenberg=True,
        ),
        Entry(
            name="tinyshakespeare",
            title="Tiny Shakespeare",
            description=(
                "40,000 lines from several Shakespeare plays, from karpathy/char-rnn "
                "(data/tinyshakespeare/input.txt); about 1.1M characters, 65 symbols. Dialogue "
                "with speaker names, so samples look like a play script."
            ),
            url=(
                "https://raw.githubusercontent.com/karpathy/char-rnn/master/"
                "data/tinyshakespeare/input.txt"
            ),
            sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        ),
        Entry(
            name="python-help",
            title="Python's help topics",
            description=(
                "The text of Python's interactive help() topics (pydoc_data.topics, shipped with "
                "the interpreter), joined in topic order: reference-manual prose about Python's "
                "syntax and types with code examples; about 465K characters, 103 symbols on "
                "Python 3.11, varying a little by version. Always available offline; technical "
                "text, so samples read like documentation, not literature."
            ),
            builtin=True,
        ),
    )
}


def entry(name: str) -> Entry | None:
    """The catalog entry called `name` (in any case: `Anna` is `anna`), or None when it is not
    a known corpus name."""
    return ENTRIES.get(name) or ENTRIES.get(name.lower())


def url_env_var(name: str) -> str:
    """The environment variable that overrides the download URL of corpus `name`."""
    return URL_ENV_PREFIX + name.upper().replace("-", "_")


def url_for(name: str) -> str | None:
    """Where corpus `name` is downloaded from: the env override when set, else the catalog URL."""
    e = ENTRIES.get(name)
    override = os.environ.get(url_env_var(name), "").strip()
    if override:
        return override
    return e.url if e else None


def package_dir() -> Path:
    """The corpora folder itself (this package); the preferred download cache."""
    return Path(__file__).resolve().parent


def user_cache_dir() -> Path:
    """The per-user fallback cache, for installs where the package folder is read-only."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "workbench" / "corpora"


def search_path() -> list[Path]:
    """Folders searched, in order, for `<name>.txt`: WORKBENCH_CORPORA, this folder, user cache."""
    folders: list[Path] = []
    for part in os.environ.get(SEARCH_ENV, "").split(os.pathsep):
        if part.strip():
            folders.append(Path(part.strip()).expanduser())
    folders += [package_dir(), user_cache_dir()]
    seen: set[Path] = set()
    unique = []
    for f in folders:
        key = f.resolve() if f.exists() else f
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def find_cached(name: str) -> Path | None:
    """The first `<name>.txt` in the search path that is a file, or None."""
    for folder in search_path():
        candidate = folder / f"{name}.txt"
        if candidate.is_file():
            return candidate
    return None


def download_dir() -> Path | None:
    """Where a download is cached: this folder when writable, else the user cache (created on
    demand); None when neither can be written."""
    here = package_dir()
    if os.access(here, os.W_OK):
        return here
    cache = user_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return cache if os.access(cache, os.W_OK) else None


def listing() -> list[dict]:
    """The catalog, for listings: name, title, description, url, builtin, cached, path."""
    rows = []
    for e in ENTRIES.values():
        found = None if e.builtin else find_cached(e.name)
        rows.append({
            "name": e.name,
            "title": e.title,
            "description": e.description,
            "url": url_for(e.name),
            "builtin": e.builtin,
            "cached": e.builtin or found is not None,  # a built-in is always there; it has no file
            "path": str(found) if found else None,
        })
    return rows


def builtin_text(name: str) -> str:
    """The text of a built-in corpus. Raises LookupError when this Python lacks it (some
    distributions split pydoc_data into a separate package)."""
    if name != "python-help":
        raise LookupError(f"no built-in corpus named {name!r}")
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:  # e.g. a trimmed-down Python in a container
        raise LookupError("this Python has no pydoc_data (its help topics)") from exc
    # Sorted keys make the text, and so the vocabulary, identical on every run.
    return "\n\n".join(topics[key] for key in sorted(topics))
