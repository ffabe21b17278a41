"""Loading a corpus: a text file or a named corpus (`anna`, `tinyshakespeare`, `python-help`),
read, cleaned (CRLF -> LF, Gutenberg's header and footer) and encoded with its vocabulary.

Two reading paths, one result:
- Fast path, for ASCII text read as UTF-8/ASCII and for any text read as Latin-1 (one byte per
  character): the file is read in chunks into one bytearray (CRLF -> LF on the way) and
  encoded in place (encode.encode_one_byte). This is the path held to the speed and memory goal.
- General path, for other text: decode to str, then encode.encode_str.

Every bad input raises CorpusError with one line (checks.py); loading never writes anything
except a download into the corpora cache (fetch.py).

numpy is imported inside functions, so importing this module (for `workbench --help`) is cheap.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from workbench.corpora import catalog
from workbench.engine.corpus.checks import (SNIFF_BYTES, binary_message, check_decoded, check_file, check_val_frac, empty_message,
                                            known_names, open_binary, sniff, text_codec)
from workbench.engine.corpus.encode import CHUNK_BYTES, decode_ids, encode_one_byte, encode_str
from workbench.engine.corpus.fetch import fetch
from workbench.engine.corpus.gutenberg import gutenberg_bounds, strip_gutenberg_bytes
from workbench.engine.errors import CorpusError

if TYPE_CHECKING:
    import numpy as np
    from workbench.engine.config import TrainConfig

_FAST_CODECS = {"utf-8", "ascii", "iso8859-1"}  # codecs.lookup() names; one byte = one char
_UTF8_BOM = b"\xef\xbb\xbf"


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

    @classmethod
    def of(cls, config: "TrainConfig", source: str | None = None) -> "CorpusSpec":
        """The text a config names (or `source`, where it is now), read by its settings."""
        return cls(source if source is not None else config.corpus, config.encoding, config.keep_crlf)


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
        check_val_frac(val_frac)
        cut = int(len(self) * (1 - val_frac))
        return self.ids[:cut], self.ids[cut:]

    def decode(self, ids: object) -> str:
        """The text for `ids`: a numpy array or any iterable of ints."""
        return decode_ids(ids, self.vocab)

    def fingerprint(self) -> str:
        """A digest of the encoded text and its vocabulary: the same text, the same digest."""
        import numpy as np

        digest = hashlib.blake2b(digest_size=16)
        digest.update("\x00".join(self.vocab).encode("utf-8", "surrogatepass"))
        digest.update(memoryview(np.ascontiguousarray(self.ids)).cast("B"))
        return digest.hexdigest()

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
        raise CorpusError(f"no corpus given; pass a text file or one of: {known_names()}")
    codec = text_codec(spec.encoding)
    entry = catalog.entry(source)
    if entry is not None:
        return _load_named(entry, codec, spec, download=download, progress=progress)
    path = Path(source).expanduser()
    return _load_file(path, name=path.stem, codec=codec, spec=spec, gutenberg=False)


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
        path, fetched = fetch(entry, allow_download=download, progress=progress)
        notes.append(fetched)
    corpus = _load_file(path, name=entry.name, codec=codec, spec=spec, gutenberg=entry.gutenberg)
    corpus.notes[:0] = notes
    return corpus


def _load_file(path: Path, *, name: str, codec: str, spec: CorpusSpec, gutenberg: bool) -> Corpus:
    """Check, read, clean and encode one text file."""
    size = check_file(path)
    with open_binary(path) as f:
        head = f.read(SNIFF_BYTES)
    sniff(path, head, codec)
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
                strip_gutenberg_bytes(buf, notes)
            if not buf:
                raise CorpusError(empty_message(path, notes))
            ids, vocab = encode_one_byte(buf)
            if codec == "iso8859-1":
                notes.append("decoded as latin-1")
            _note_kept_crlf(spec, vocab, notes)
            return Corpus(name=name, origin=origin, ids=ids, vocab=vocab, notes=notes)
        notes.clear()  # not ASCII after all: start again on the general path

    with open_binary(path) as f:
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
    if codec != "utf-8":  # strict UTF-8 never yields a lone surrogate; some codecs do
        check_decoded(text, f"corpus file {path}", spec.encoding)
        notes.append(f"decoded as {spec.encoding}")
    if text.startswith("\ufeff"):
        text = text[1:]
        notes.append("removed byte-order mark")
    if "\x00" in text[:SNIFF_BYTES]:
        raise CorpusError(binary_message(path))
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
        start, end = gutenberg_bounds(text, notes)
        if (start, end) != (0, len(text)):
            text = text[start:end]
    if not text:
        raise CorpusError(empty_message(path or Path(origin), notes))
    ids, vocab = encode_str(text)
    _note_kept_crlf(spec, vocab, notes)
    return Corpus(name=name, origin=origin, ids=ids, vocab=vocab, notes=notes)


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
    with open_binary(path) as f:
        while chunk := f.read(CHUNK_BYTES):
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


def _note_kept_crlf(spec: CorpusSpec, vocab: list[str], notes: list[str]) -> None:
    if spec.keep_crlf and "\r" in vocab:
        notes.append("kept CRLF line endings (\\r is a symbol)")
