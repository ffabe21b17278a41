"""Every way a corpus can be unusable, each a CorpusError with one line that says what is
wrong and how to fix it: an unknown encoding, a missing, empty, binary or unreadable file, a
validation fraction out of range, a text too short for one batch."""
from __future__ import annotations

import codecs
import math
import re
from pathlib import Path
from typing import BinaryIO

from workbench.corpora import catalog
from workbench.engine.errors import CorpusError

SNIFF_BYTES = 8192  # like git and grep: a NUL byte in the first 8 KB means "binary"


def check_fits(n_chars: int, val_frac: float, batch_size: int, seq_length: int) -> None:
    """Raise CorpusError unless both the train and validation parts hold one full batch.

    The batcher cuts each part into batch_size rows and steps seq_length columns at a time, so
    each part needs at least batch_size * seq_length characters (the arithmetic is exact: the
    train part is int(n * (1 - val_frac)) characters and validation the rest).
    """
    check_val_frac(val_frac)
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


def text_codec(encoding: str) -> str:
    """The canonical codec name for `encoding`, or CorpusError naming --encoding."""
    try:
        name = codecs.lookup(encoding).name
        # codecs.lookup also knows bytes-to-bytes codecs (base64, zlib) and rot13; str.encode
        # and bytes.decode refuse those with a LookupError ("not a text encoding").
        "".encode(name)
        b"".decode(name)
    except (LookupError, TypeError):
        raise CorpusError(
            f"unknown text encoding {encoding!r}; pass --encoding with a Python codec name "
            "such as utf-8, latin-1 or cp1252"
        ) from None
    return name


def check_file(path: Path, kind: str = "corpus file") -> int:
    """Size in bytes of `path`, or CorpusError when it is missing, a folder or empty. `kind`
    names it in messages: a "corpus file" to train on, or a "file" to score."""
    if not path.exists():
        known = f" or a known corpus name ({known_names()})" if kind == "corpus file" else ""
        raise CorpusError(f"{kind} {path} does not exist; give the path of a text file{known}")
    if path.is_dir():
        raise CorpusError(
            f"{path} is a directory, not a text file; give the path of a text file inside it"
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CorpusError(f"cannot read {kind} {path}: {exc.strerror}") from None
    if size == 0:
        raise CorpusError(f"{kind} {path} is empty; give a text file with some text in it")
    return size


def open_binary(path: Path, kind: str = "corpus file") -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CorpusError(
            f"cannot read {kind} {path}: {(exc.strerror or str(exc)).lower()}; "
            "check that it exists and that you may read it"
        ) from None


def sniff(path: Path | str, head: bytes, codec: str, kind: str = "corpus file") -> None:
    """Reject files that are not text in `codec`, judged from their first 8 KB. `path` may
    be "standard input" with `kind` ""."""
    wide = codec.startswith(("utf-16", "utf-32"))
    if not wide:
        for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
            if head.startswith(bom):
                raise CorpusError(
                    f"{kind} {path} looks like {enc.upper()} (it starts with a byte-order "
                    f"mark); pass --encoding {enc}".lstrip()
                )
        # In ASCII-compatible encodings a NUL byte is a NUL character, which text never has.
        if b"\x00" in head:
            raise CorpusError(binary_message(path, kind))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def check_decoded(text: str, name: str, encoding: str, offset: int = 0) -> None:
    """Refuse a text that decoded to a lone surrogate (`unicode_escape` turns the six bytes
    \\ud800 into one): it is no character, and could be neither shown nor stored. `offset`:
    where `text` starts in the whole, for the message."""
    found = _LONE_SURROGATE.search(text)
    if found:
        raise CorpusError(f"{name} decoded as {encoding} holds U+{ord(found.group()):04X} at character "
                          f"{offset + found.start():,}, half of a surrogate pair and no character; "
                          "fix the text or pass the encoding it is in")


def binary_message(path: Path | str, kind: str = "corpus file") -> str:
    return f"{kind} {path} looks binary (NUL bytes in its first 8 KB), not text; give a plain text file".lstrip()


def empty_message(path: Path, notes: list[str]) -> str:
    done = f" after cleaning ({'; '.join(notes)})" if notes else ""
    return f"corpus file {path} has no text{done}; give a text file with some text in it"


def check_val_frac(val_frac: float) -> None:
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


def known_names() -> str:
    return ", ".join(catalog.ENTRIES)
