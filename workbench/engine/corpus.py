"""Text in, integer ids out: load a corpus, clean it, build its vocabulary, encode and split it.

A corpus is any UTF-8 (or `--encoding`) text file, or a name from the catalog (`anna`,
`tinyshakespeare`, `python-help`). The vocabulary is the sorted set of distinct characters, so the
same text always gives the same ids. Ids are the smallest unsigned integer type that fits: uint8
up to 256 symbols, uint16 up to 65,536, else int32.

Two reading paths, one result:
- Fast path, for ASCII text read as UTF-8/ASCII and for any text read as Latin-1 (one byte per
  character): the file is read in chunks into one bytearray (CRLF -> LF on the way), counted with
  np.bincount and mapped in place with bytes.translate. This is the path held to the speed and
  memory goal (>= 100 MB/s, <= 2 bytes of peak extra memory per character; about 1.1 in practice).
- General path, for other text: decode to str, then encode in chunks through UTF-32. Correct for
  any text, but slower and it holds the str (1-4 bytes per character) next to the ids: about
  40 MB/s and 3.3 bytes per character measured on mostly-ASCII UTF-8 text. The speed and memory
  goal is for ASCII and Latin-1 text only.

Every bad input raises CorpusError with one line that says what is wrong and how to fix it;
loading never writes anything except a download into the corpora cache.

numpy is imported inside functions, so importing this module (for `workbench --help`) is cheap.
"""
from __future__ import annotations

import codecs
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Sequence, TextIO

from workbench.corpora import catalog
from workbench.engine.errors import CorpusError

if TYPE_CHECKING:
    import numpy as np

_SNIFF_BYTES = 8192  # like git and grep: a NUL byte in the first 8 KB means "binary"
_READ_CHUNK = 4 * 1024 * 1024  # bytes per read/translate step; bounds the fast path's temporaries
_COUNT_CHUNK = 1 << 20  # elements per bincount call: bincount casts to intp, 8 bytes each
_STR_CHUNK = 1 << 20  # characters per UTF-32 step on the general path
_FAST_CODECS = {"utf-8", "ascii", "iso8859-1"}  # codecs.lookup() names; one byte = one char
_UTF8_BOM = b"\xef\xbb\xbf"
_WS = frozenset(" \t\r\n") | frozenset(b" \t\r\n")  # items of both str and bytearray


@dataclass(frozen=True)
class CorpusSpec:
    """What the user asked for."""

    source: str
    """A path to a text file, or a known corpus name ("anna", "tinyshakespeare", "python-help").
    A known name wins over a file of the same name in the current folder; write ./anna for that."""
    encoding: str = "utf-8"
    """Text encoding of the file (any Python codec name). Ignored for built-in corpora."""
    keep_crlf: bool = False
    """Keep CRLF line endings as two characters instead of turning them into LF."""


@dataclass
class Corpus:
    """An encoded text and the vocabulary that decodes it."""

    name: str
    """"anna", or the file's stem."""
    origin: str
    """Absolute path of the file read, or "builtin:python-help"."""
    ids: np.ndarray
    """The encoded text: uint8, uint16 or int32 indices into `vocab`."""
    vocab: list[str]
    """Sorted distinct characters."""
    notes: list[str] = field(default_factory=list)
    """What was done while loading (download, CRLF, stripping, decoding), for the user to see."""

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def split(self, val_frac: float) -> tuple[np.ndarray, np.ndarray]:
        """Train ids and validation ids: the last `val_frac` of the text is validation, split at
        int(n * (1 - val_frac)) exactly as the reference notebook does. Both are views."""
        _check_val_frac(val_frac)
        cut = int(len(self) * (1 - val_frac))
        return self.ids[:cut], self.ids[cut:]

    def decode(self, ids: object) -> str:
        """The text for `ids`: a numpy array or any iterable of ints."""
        return decode_ids(ids, self.vocab)

    def describe(self) -> str:
        """One line: name, size, vocabulary and what loading did."""
        line = f"{self.name}: {len(self):,} chars, {len(self.vocab)} symbols ({self.ids.dtype})"
        return line + (" - " + "; ".join(self.notes) if self.notes else "")


# ---------------------------------------------------------------------------------------------
# Public functions


def load_corpus(
    spec: CorpusSpec,
    *,
    download: bool = True,
    progress: TextIO | None = sys.stderr,
) -> Corpus:
    """Load, clean and encode the corpus `spec` names.

    Named corpora are looked up in corpora_search_path() and, when missing and `download` is
    true, downloaded into the corpora cache with a progress bar on `progress` (None: silent).
    """
    source = spec.source
    if not source or not source.strip():
        raise CorpusError(f"no corpus given; pass a text file or one of: {_known_names()}")
    codec = _codec(spec.encoding)
    entry = catalog.entry(source)
    if entry is not None:
        return _load_named(entry, codec, spec, download=download, progress=progress)
    path = Path(source).expanduser()
    return _load_file(path, name=path.stem, codec=codec, spec=spec, gutenberg=False)


def unknown_chars(text: str, vocab: Sequence[str]) -> list[str]:
    """The distinct characters of `text` that `vocab` lacks, sorted."""
    return sorted(set(text) - set(vocab))


def describe_unknown(unknown: Sequence[str], limit: int = 12) -> str:
    """Characters as the errors show them: 'é' (U+00E9), ... and N more."""
    shown = ", ".join(_show_char(c) for c in unknown[:limit])
    return shown + (f" and {len(unknown) - limit} more" if len(unknown) > limit else "")


def encode_text(text: str, vocab: list[str]) -> np.ndarray:
    """Encode `text` (a prime, say) with an existing vocabulary. Every character must be in it."""
    import numpy as np

    unknown = unknown_chars(text, vocab)
    if unknown:
        raise CorpusError(
            f"text has {len(unknown)} character(s) not in the corpus vocabulary: {describe_unknown(unknown)}; "
            "remove them, or use a corpus that contains them"
        )
    index = {ch: i for i, ch in enumerate(vocab)}
    return np.fromiter((index[ch] for ch in text), dtype=_dtype_for(len(vocab)), count=len(text))


def read_text(path: str | Path, *, encoding: str = "utf-8", keep_crlf: bool = False) -> tuple[str, list[str]]:
    """A whole text file as a str, read by the corpus rules (the same checks for a missing,
    empty, binary or wrongly encoded file; byte-order mark removed; CRLF -> LF unless
    `keep_crlf`), with notes on what was done. For texts scored or probed, not trained on."""
    codec = _codec(encoding)
    path = Path(path).expanduser()
    _check_file(path)
    with _open(path) as f:
        raw = f.read()
    _sniff(path, raw[:_SNIFF_BYTES], codec)
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"file {path} is not valid {encoding} (byte 0x{raw[exc.start]:02x} at offset "
                          f"{exc.start}); pass --encoding for another encoding") from None
    notes = []
    if text.startswith("\ufeff"):
        text = text[1:]
        notes.append("removed byte-order mark")
    if not keep_crlf and "\r\n" in text:
        before = len(text)
        text = text.replace("\r\n", "\n")
        notes.append(f"CRLF -> LF ({before - len(text):,} line endings)")
    return text, notes


def decode_ids(ids: object, vocab: list[str]) -> str:
    """The text for `ids` under `vocab` (the inverse of encode_text)."""
    values = ids.tolist() if hasattr(ids, "tolist") else list(ids)  # type: ignore[union-attr]
    return "".join(vocab[i] for i in values)


def check_fits(n_chars: int, val_frac: float, batch_size: int, seq_length: int) -> None:
    """Raise CorpusError unless both the train and validation parts hold one full batch.

    The batcher cuts each part into batch_size rows and steps seq_length columns at a time, so
    each part needs at least batch_size * seq_length characters (the arithmetic is exact: the
    train part is int(n * (1 - val_frac)) characters and validation the rest).
    """
    _check_val_frac(val_frac)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise CorpusError(f"--batch-size must be a whole number >= 1, got {batch_size!r}")
    if not isinstance(seq_length, int) or seq_length < 1:
        raise CorpusError(f"--seq-length must be a whole number >= 1, got {seq_length!r}")
    per_batch = batch_size * seq_length
    n_train = int(n_chars * (1 - val_frac))
    n_val = n_chars - n_train
    if n_train >= per_batch and n_val >= per_batch:
        return
    need = _min_chars(per_batch, val_frac)
    settings = (
        f"--batch-size {batch_size} x --seq-length {seq_length} = {per_batch:,} characters "
        f"per batch, --val-frac {val_frac:g}"
    )
    if n_train < per_batch:
        raise CorpusError(
            f"corpus is too short for one training batch: {n_chars:,} characters, of which "
            f"{n_train:,} for training; with {settings} it needs at least {need:,} characters; "
            "use a longer corpus or a smaller --batch-size/--seq-length"
        )
    raise CorpusError(
        f"validation split is too short for one batch: {n_val:,} of {n_chars:,} characters; "
        f"with {settings} the corpus needs at least {need:,} characters; use a larger "
        "--val-frac or a smaller --batch-size/--seq-length"
    )


def known_corpora() -> list[dict]:
    """The catalog, for listings: name, title, description, url, builtin, cached, path."""
    rows = []
    for e in catalog.ENTRIES.values():
        found = None if e.builtin else catalog.find_cached(e.name)
        rows.append(
            {
                "name": e.name,
                "title": e.title,
                "description": e.description,
                "url": catalog.url_for(e.name),
                "builtin": e.builtin,
                # A built-in is always there; it has no file.
                "cached": e.builtin or found is not None,
                "path": str(found) if found else None,
            }
        )
    return rows


def corpora_search_path() -> list[Path]:
    """Folders searched for `<name>.txt`: $WORKBENCH_CORPORA (colon-separated), the corpora
    folder, then ~/.cache/workbench/corpora."""
    return catalog.search_path()


def measure_encoding(path: str | Path) -> dict:
    """Load and encode the text file `path` twice: once under tracemalloc for peak memory, once
    untraced for speed. MB are 10**6 bytes of the file as stored on disk."""
    import tracemalloc

    path = Path(path)
    spec = CorpusSpec(str(path))
    codec = _codec(spec.encoding)
    size = path.stat().st_size if path.is_file() else 0

    # The traced run goes first: it also warms the page cache for the timed run.
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        corpus = _load_file(path, name=path.stem, codec=codec, spec=spec, gutenberg=False)
        peak = tracemalloc.get_traced_memory()[1] - base
        n = len(corpus)
        del corpus
    finally:
        if started:
            tracemalloc.stop()

    t0 = time.perf_counter()
    corpus = _load_file(path, name=path.stem, codec=codec, spec=spec, gutenberg=False)
    seconds = time.perf_counter() - t0
    return {
        "path": str(path.resolve()),
        "bytes": size,
        "chars": n,
        "symbols": len(corpus.vocab),
        "dtype": str(corpus.ids.dtype),
        "seconds": seconds,
        "mb_per_s": size / 1e6 / seconds if seconds > 0 else math.inf,
        "peak_bytes": peak,
        "peak_bytes_per_char": peak / n if n else math.inf,
    }


def make_large_text(dst: str | Path, size_bytes: int, seed_text_path: str | Path) -> Path:
    """Write `dst` by repeating the bytes of `seed_text_path` up to `size_bytes` (cut back to the
    last whole line, so no character or CRLF is split). For benchmarks; streams, never holds
    more than one copy of the seed."""
    seed = Path(seed_text_path).read_bytes()
    if not seed:
        raise CorpusError(f"seed text {seed_text_path} is empty; give a text file with some text")
    dst = Path(dst)
    written = 0
    with open(dst, "wb") as out:
        while written + len(seed) <= size_bytes:
            out.write(seed)
            written += len(seed)
        rest = seed[: size_bytes - written]
        cut = rest.rfind(b"\n") + 1
        out.write(rest[:cut])
    return dst


# ---------------------------------------------------------------------------------------------
# Loading


def _load_named(
    entry: catalog.Entry,
    codec: str,
    spec: CorpusSpec,
    *,
    download: bool,
    progress: TextIO | None,
) -> Corpus:
    if entry.builtin:
        try:
            text = catalog.builtin_text(entry.name)
        except LookupError as exc:
            raise CorpusError(
                f"built-in corpus '{entry.name}' is not available: {exc}; install Python's "
                "standard library documentation (pydoc_data) or pass a text file instead"
            ) from exc
        # The text differs a little between Python versions; say which one this is.
        notes = [f"help topics of Python {sys.version.split()[0]}"]
        return _corpus_from_str(
            text, name=entry.name, origin=f"builtin:{entry.name}", spec=spec, notes=notes
        )

    notes = []
    path = catalog.find_cached(entry.name)
    if path is None:
        path, fetched = _fetch(entry, download=download, progress=progress)
        notes.append(fetched)
    corpus = _load_file(path, name=entry.name, codec=codec, spec=spec, gutenberg=entry.gutenberg)
    corpus.notes[:0] = notes
    return corpus


def _fetch(entry: catalog.Entry, *, download: bool, progress: TextIO | None) -> tuple[Path, str]:
    """Download a named corpus into the cache; return its path and a note."""
    folder = catalog.download_dir()
    dest = (folder or catalog.package_dir()) / f"{entry.name}.txt"
    url = catalog.url_for(entry.name)
    where = ", or ".join([u for u in [url, *entry.alt_urls] if u])
    put = (
        f"put the text of {entry.title} ({where}) at {dest} "
        f"or in a folder listed in {catalog.SEARCH_ENV}"
    )
    if not download:
        raise CorpusError(f"corpus '{entry.name}' is not cached and downloads are off: {put}")
    if folder is None:
        reason = f"no writable folder: {catalog.package_dir()} and {catalog.user_cache_dir()}"
        raise CorpusError(f"corpus '{entry.name}' could not be downloaded ({reason}): {put}")
    if url is None:  # only a catalog mistake gets here
        raise CorpusError(f"corpus '{entry.name}' has no download URL: {put}")
    from workbench.engine import download as _download  # urllib and ssl load only when needed

    try:
        n_bytes = _download.download(url, dest, progress=progress)
    except _download.DownloadError as exc:
        raise CorpusError(
            f"corpus '{entry.name}' is not cached and could not be downloaded ({exc.reason}): "
            f"{put}"
        ) from exc
    note = f"downloaded {n_bytes / 1e6:.1f} MB from {url} to {dest}"
    if entry.sha256 and url == entry.url:
        import hashlib

        digest = hashlib.sha256(dest.read_bytes()).hexdigest()
        if digest != entry.sha256:
            # Upstream may have re-saved the file; the text is still usable, so warn, not fail.
            note += " (its sha256 differs from the copy workbench knows; upstream may have changed)"
    return dest, note


def _load_file(path: Path, *, name: str, codec: str, spec: CorpusSpec, gutenberg: bool) -> Corpus:
    """Check, read, clean and encode one text file."""
    size = _check_file(path)
    with _open(path) as f:
        head = f.read(_SNIFF_BYTES)
    _sniff(path, head, codec)
    origin = str(path.resolve())
    notes: list[str] = []

    if codec in _FAST_CODECS:
        # ASCII-compatible one-byte text: never decode to str (see the module docstring).
        buf = _read_one_byte_text(
            path,
            size,
            any_byte=codec == "iso8859-1",
            skip_bom=codec == "utf-8",
            crlf_to_lf=not spec.keep_crlf,
            notes=notes,
        )
        if buf is not None:
            if gutenberg:
                _strip_gutenberg_bytes(buf, notes)
            if not buf:
                raise CorpusError(_empty_message(path, notes))
            ids, vocab = _encode_one_byte(buf)
            if codec == "iso8859-1":
                notes.append("decoded as latin-1")
            _note_kept_crlf(spec, vocab, notes)
            return Corpus(name=name, origin=origin, ids=ids, vocab=vocab, notes=notes)
        notes.clear()  # not ASCII after all: start again on the general path

    with _open(path) as f:
        raw = f.read()
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        label = "UTF-8" if codec == "utf-8" else spec.encoding
        raise CorpusError(
            f"corpus file {path} is not valid {label} (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); if it is another encoding, pass --encoding latin-1 (or the right one)"
        ) from None
    del raw  # free the bytes before building the ids
    if codec != "utf-8":
        notes.append(f"decoded as {spec.encoding}")
    if text.startswith("\ufeff"):
        text = text[1:]
        notes.append("removed byte-order mark")
    if "\x00" in text[:_SNIFF_BYTES]:
        raise CorpusError(_binary_message(path))
    return _corpus_from_str(
        text, name=name, origin=origin, spec=spec, notes=notes, gutenberg=gutenberg, path=path
    )


def _corpus_from_str(
    text: str,
    *,
    name: str,
    origin: str,
    spec: CorpusSpec,
    notes: list[str],
    gutenberg: bool = False,
    path: Path | None = None,
) -> Corpus:
    if not spec.keep_crlf:
        before = len(text)
        text = text.replace("\r\n", "\n")
        if len(text) != before:  # each replacement removes exactly one character
            notes.append(f"CRLF -> LF ({before - len(text):,} line endings)")
    if gutenberg:
        start, end = _gutenberg_bounds(text, notes)
        if (start, end) != (0, len(text)):
            text = text[start:end]
    if not text:
        raise CorpusError(_empty_message(path or Path(origin), notes))
    ids, vocab = _encode_str(text)
    _note_kept_crlf(spec, vocab, notes)
    return Corpus(name=name, origin=origin, ids=ids, vocab=vocab, notes=notes)


# ---------------------------------------------------------------------------------------------
# Checks


def _codec(encoding: str) -> str:
    """The canonical codec name for `encoding`, or CorpusError naming --encoding."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError):
        info = None
    # codecs.lookup also knows bytes-to-bytes codecs (base64, zlib); they are not text encodings.
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise CorpusError(
            f"unknown text encoding {encoding!r}; pass --encoding with a Python codec name "
            "such as utf-8, latin-1 or cp1252"
        )
    return info.name


def _check_file(path: Path) -> int:
    """Size in bytes of `path`, or CorpusError when it is missing, a folder or empty."""
    if not path.exists():
        raise CorpusError(
            f"corpus file {path} does not exist; give the path of a text file or a known corpus "
            f"name ({_known_names()})"
        )
    if path.is_dir():
        raise CorpusError(
            f"{path} is a directory, not a text file; give the path of a text file inside it"
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CorpusError(f"cannot read corpus file {path}: {exc.strerror}") from None
    if size == 0:
        raise CorpusError(f"corpus file {path} is empty; give a text file with some text in it")
    return size


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CorpusError(
            f"cannot read corpus file {path}: {(exc.strerror or str(exc)).lower()}; "
            "check that it exists and that you may read it"
        ) from None


def _sniff(path: Path, head: bytes, codec: str) -> None:
    """Reject files that are not text in `codec`, judged from their first 8 KB."""
    wide = codec.startswith(("utf-16", "utf-32"))
    if not wide:
        for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
            if head.startswith(bom):
                raise CorpusError(
                    f"corpus file {path} looks like {enc.upper()} (it starts with a byte-order "
                    f"mark); pass --encoding {enc}"
                )
        # In ASCII-compatible encodings a NUL byte is a NUL character, which text never has.
        if b"\x00" in head:
            raise CorpusError(_binary_message(path))


def _binary_message(path: Path) -> str:
    return (
        f"corpus file {path} looks binary (NUL bytes in its first 8 KB), not text; "
        "give a plain text file"
    )


def _empty_message(path: Path, notes: list[str]) -> str:
    done = f" after cleaning ({'; '.join(notes)})" if notes else ""
    return f"corpus file {path} has no text{done}; give a text file with some text in it"


def _check_val_frac(val_frac: float) -> None:
    ok = isinstance(val_frac, (int, float)) and math.isfinite(val_frac) and 0 < val_frac < 1
    if not ok:
        raise CorpusError(
            f"--val-frac must be between 0 and 1 (exclusive), got {val_frac!r}; 0.1 keeps the "
            "last 10% of the text for validation"
        )


def _min_chars(per_batch: int, val_frac: float) -> int:
    """Smallest n whose train and validation parts both hold `per_batch` characters, computed
    with the same float arithmetic as the split so the number is exact, not approximate."""

    def fits(n: int) -> bool:
        n_train = int(n * (1 - val_frac))
        return n_train >= per_batch and n - n_train >= per_batch

    hi = max(2 * per_batch, 1)
    while not fits(hi):
        hi *= 2
    lo = hi // 2  # both parts grow monotonically with n, so bisect
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _known_names() -> str:
    return ", ".join(catalog.ENTRIES)


# ---------------------------------------------------------------------------------------------
# Fast path: one byte per character


def _read_one_byte_text(
    path: Path,
    size: int,
    *,
    any_byte: bool,
    skip_bom: bool,
    crlf_to_lf: bool,
    notes: list[str],
) -> bytearray | None:
    """The file's bytes, with CRLF -> LF, in one bytearray of about the file's size.

    Returns None when a byte >= 0x80 appears and `any_byte` is false: the text is then not ASCII
    and must be decoded. Reading in chunks keeps the temporaries at a few chunks instead of a
    second copy of the file.
    """
    buf = bytearray(size)
    written = 0
    crlf = 0
    carry = b""  # a chunk's final "\r" waits for the next chunk, which may start with "\n"
    first = True
    with _open(path) as f:
        while chunk := f.read(_READ_CHUNK):
            if first:
                first = False
                if skip_bom and chunk.startswith(_UTF8_BOM):
                    chunk = chunk[len(_UTF8_BOM):]
                    notes.append("removed byte-order mark")
            if not any_byte and not chunk.isascii():
                return None
            if crlf_to_lf:
                if carry:
                    chunk, carry = carry + chunk, b""
                if chunk.endswith(b"\r"):
                    chunk, carry = chunk[:-1], b"\r"
                before = len(chunk)
                chunk = chunk.replace(b"\r\n", b"\n")
                crlf += before - len(chunk)  # each replacement removes exactly one byte
            buf[written:written + len(chunk)] = chunk
            written += len(chunk)
            del chunk
    if carry:
        buf[written:written + 1] = carry
        written += 1
    del buf[written:]  # shrinks in place (realloc), no copy
    if crlf:
        notes.append(f"CRLF -> LF ({crlf:,} line endings)")
    return buf


def _encode_one_byte(buf: bytearray) -> tuple[np.ndarray, list[str]]:
    """Turn `buf` into ids in place: its bytes become indices into the sorted byte vocabulary.

    The returned uint8 array shares `buf`'s memory, so encoding costs no second copy.
    """
    import numpy as np

    view = np.frombuffer(buf, dtype=np.uint8)
    counts = np.zeros(256, dtype=np.int64)
    for i in range(0, len(view), _COUNT_CHUNK):
        counts += np.bincount(view[i:i + _COUNT_CHUNK], minlength=256)
    del view
    present = np.flatnonzero(counts)
    table = bytearray(256)
    for index, byte in enumerate(present.tolist()):
        table[byte] = index
    table = bytes(table)
    # bytes.translate is a C loop over a 256-byte table: faster than numpy fancy indexing and
    # it needs only one chunk of scratch space.
    for i in range(0, len(buf), _READ_CHUNK):
        buf[i:i + _READ_CHUNK] = buf[i:i + _READ_CHUNK].translate(table)
    vocab = [chr(b) for b in present.tolist()]  # byte value == code point in ASCII and Latin-1
    return np.frombuffer(buf, dtype=np.uint8), vocab


# ---------------------------------------------------------------------------------------------
# General path: any text


def _encode_str(text: str) -> tuple[np.ndarray, list[str]]:
    """Ids and vocabulary for any str, one chunk of code points at a time."""
    import numpy as np

    def code_chunks():
        for i in range(0, len(text), _STR_CHUNK):
            piece = text[i:i + _STR_CHUNK].encode("utf-32-le", "surrogatepass")
            yield i, np.frombuffer(piece, dtype=np.uint32)

    codes = np.zeros(0, dtype=np.uint32)
    for _, chunk in code_chunks():
        codes = np.union1d(codes, np.unique(chunk))
    ids = np.empty(len(text), dtype=_dtype_for(len(codes)))
    for i, chunk in code_chunks():
        ids[i:i + len(chunk)] = np.searchsorted(codes, chunk)
    return ids, [chr(c) for c in codes.tolist()]


def _dtype_for(n_symbols: int) -> type:
    import numpy as np

    if n_symbols <= 256:
        return np.uint8
    if n_symbols <= 65536:
        return np.uint16
    return np.int32


# ---------------------------------------------------------------------------------------------
# Cleaning


_START_RE = r"^\*{3} ?START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*\n"
_END_RE = r"^\*{3} ?END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK"
_END_LINE_RE = r"^end of (?:the )?project gutenberg"  # "End of the Project Gutenberg EBook of..."
_PATTERNS = {
    kind: {
        str: re.compile(p, re.IGNORECASE | re.MULTILINE),
        bytes: re.compile(p.encode("ascii"), re.IGNORECASE | re.MULTILINE),
    }
    for kind, p in (("start", _START_RE), ("end", _END_RE), ("end_line", _END_LINE_RE))
}


def _gutenberg_bounds(data: str | bytearray, notes: list[str]) -> tuple[int, int]:
    """[start, end) of the book inside a Project Gutenberg file: after the "*** START OF ..."
    line and before the "*** END OF ..." line (and the "End of the Project Gutenberg EBook"
    line just above it), keeping one line ending after the last line of text."""
    kind = str if isinstance(data, str) else bytes
    start, end = 0, len(data)
    m = _PATTERNS["start"][kind].search(data)
    if m:
        start = m.end()
        while start < end and data[start] in _WS:  # blank lines under the marker
            start += 1
    m = _PATTERNS["end"][kind].search(data, start)
    if m:
        end = _end_of_text(data, start, m.start())
        line_start = _line_start(data, start, end)
        last_line = data[line_start:end]
        if _PATTERNS["end_line"][kind].match(last_line.strip()):
            end = _end_of_text(data, start, line_start)
        if end > start:  # a book with text ends with one line ending; an empty one stays empty
            end = _keep_one_newline(data, end)
    if start:
        notes.append(f"removed Project Gutenberg header ({start:,} chars)")
    if end < len(data):
        notes.append(f"removed Project Gutenberg licence footer ({len(data) - end:,} chars)")
    return start, end


def _end_of_text(data: str | bytearray, lo: int, hi: int) -> int:
    """Index just past the last non-blank character in data[lo:hi]."""
    while hi > lo and data[hi - 1] in _WS:
        hi -= 1
    return hi


def _line_start(data: str | bytearray, lo: int, pos: int) -> int:
    nl = "\n" if isinstance(data, str) else b"\n"
    return max(data.rfind(nl, lo, pos) + 1, lo)  # type: ignore[arg-type]


def _keep_one_newline(data: str | bytearray, end: int) -> int:
    """Move `end` past the line ending that follows it (LF or CRLF), if any."""
    crlf, lf = ("\r\n", "\n") if isinstance(data, str) else (b"\r\n", b"\n")
    if data[end:end + 2] == crlf:
        return end + 2
    if data[end:end + 1] == lf:
        return end + 1
    return end


def _strip_gutenberg_bytes(buf: bytearray, notes: list[str]) -> None:
    start, end = _gutenberg_bounds(buf, notes)
    del buf[end:]  # the tail first, so the head's memmove moves less
    del buf[:start]


def _note_kept_crlf(spec: CorpusSpec, vocab: list[str], notes: list[str]) -> None:
    if spec.keep_crlf and "\r" in vocab:
        notes.append("kept CRLF line endings (\\r is a symbol)")


def _show_char(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X})"
