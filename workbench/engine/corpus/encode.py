"""Text to integer ids and back, with the vocabulary (the sorted set of distinct characters,
so the same text always gives the same ids). Ids are the smallest unsigned integer type that
fits: uint8 up to 256 symbols, uint16 up to 65,536, else int32.

Two ways to encode, one result:
- `encode_one_byte`, for text of one byte per character (ASCII read as UTF-8, anything read as
  Latin-1): the bytes are counted with np.bincount and mapped in place with bytes.translate,
  so encoding costs no second copy (the speed and memory goal: >= 100 MB/s, <= 2 bytes of peak
  extra memory per character; about 1.1 in practice).
- `encode_str`, for any other text: chunks of code points through UTF-32. Correct for any text,
  slower, and it holds the str next to the ids (about 40 MB/s and 3.3 bytes per character
  measured on mostly-ASCII UTF-8 text).

numpy is imported inside the functions, so importing this module is cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from workbench.engine.errors import CorpusError

if TYPE_CHECKING:
    import numpy as np

CHUNK_BYTES = 4 * 1024 * 1024  # bytes per read/translate step; bounds the one-byte path's temporaries
_COUNT_CHUNK = 1 << 20  # elements per bincount call: bincount casts to intp, 8 bytes each
_STR_CHUNK = 1 << 20  # characters per UTF-32 step on the general path


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
    return np.fromiter((index[ch] for ch in text), dtype=dtype_for(len(vocab)), count=len(text))


def decode_ids(ids: object, vocab: list[str]) -> str:
    """The text for `ids` under `vocab` (the inverse of encode_text)."""
    values = ids.tolist() if hasattr(ids, "tolist") else list(ids)  # type: ignore[union-attr]
    return "".join(vocab[i] for i in values)


def encode_one_byte(buf: bytearray) -> tuple[np.ndarray, list[str]]:
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
    for i in range(0, len(buf), CHUNK_BYTES):
        buf[i:i + CHUNK_BYTES] = buf[i:i + CHUNK_BYTES].translate(table)
    vocab = [chr(b) for b in present.tolist()]  # byte value == code point in ASCII and Latin-1
    return np.frombuffer(buf, dtype=np.uint8), vocab


def encode_str(text: str) -> tuple[np.ndarray, list[str]]:
    """Ids and vocabulary for any str, one chunk of code points at a time."""
    import numpy as np

    def code_chunks():
        for i in range(0, len(text), _STR_CHUNK):
            piece = text[i:i + _STR_CHUNK].encode("utf-32-le", "surrogatepass")
            yield i, np.frombuffer(piece, dtype=np.uint32)

    codes = np.zeros(0, dtype=np.uint32)
    for _, chunk in code_chunks():
        codes = np.union1d(codes, np.unique(chunk))
    ids = np.empty(len(text), dtype=dtype_for(len(codes)))
    for i, chunk in code_chunks():
        ids[i:i + len(chunk)] = np.searchsorted(codes, chunk)
    return ids, [chr(c) for c in codes.tolist()]


def dtype_for(n_symbols: int) -> type:
    import numpy as np

    if n_symbols <= 256:
        return np.uint8
    if n_symbols <= 65536:
        return np.uint16
    return np.int32


def _show_char(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X})"
