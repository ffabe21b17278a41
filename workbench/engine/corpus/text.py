"""Texts that are scored or probed, not trained on: read by the corpus rules (the same checks
for a missing, empty, binary or wrongly encoded file; byte-order mark removed; CRLF -> LF
unless asked to keep it), from a file, a device or a pipe such as standard input.

`text_pieces` reads piece by piece, so that memory does not grow with the text (`workbench
score` on 50 MB, or on an endless stream, holds a megabyte of it at a time); `read_text` is
the whole text at once, for the short ones the studio shows character by character.
"""
from __future__ import annotations

import codecs
import contextlib
import stat
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from workbench.engine.corpus.checks import SNIFF_BYTES, check_decoded, check_file, open_binary, sniff, text_codec
from workbench.engine.errors import CorpusError

PIECE_BYTES = 1 << 20
KIND = "file"  # as messages name it: a text to score, not a corpus


def text_pieces(source: str | Path | BinaryIO, *, encoding: str = "utf-8", keep_crlf: bool = False,
                notes: list[str] | None = None, piece_bytes: int = PIECE_BYTES,
                on_bytes: Callable[[int], None] | None = None) -> Iterator[str]:
    """The text of `source` (a path, or a binary stream such as `sys.stdin.buffer`) in pieces
    of about `piece_bytes`. What was done to it is appended to `notes` once the last piece is
    read; `on_bytes` hears how many bytes have been read so far, after each piece."""
    codec = text_codec(encoding)
    if isinstance(source, (str, Path)):
        where = Path(source).expanduser()
        if _is_regular(where) or not where.exists() or where.is_dir():
            check_file(where, KIND)  # the messages for a missing, empty or folder path
        stream: BinaryIO = open_binary(where, KIND)  # a device or a FIFO: read as a stream
        name, label, kind = f"file {where}", str(where), KIND
    else:
        stream, name, label, kind = source, "standard input", "standard input", ""
    with stream if isinstance(source, (str, Path)) else contextlib.nullcontext(stream):  # stdin stays open
        yield from _decoded(stream, codec, encoding, keep_crlf, name, label, kind, notes, piece_bytes, on_bytes)


def read_text(source: str | Path | BinaryIO, *, encoding: str = "utf-8",
              keep_crlf: bool = False) -> tuple[str, list[str]]:
    """A whole text as a str, with notes on what was done (see `text_pieces`)."""
    notes: list[str] = []
    text = "".join(text_pieces(source, encoding=encoding, keep_crlf=keep_crlf, notes=notes))
    return text, notes


def _decoded(stream: BinaryIO, codec: str, encoding: str, keep_crlf: bool, name: str, label: str, kind: str,
             notes: list[str] | None, piece_bytes: int, on_bytes: Callable[[int], None] | None) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(codec)("strict")
    read = produced = crlf = 0
    held_cr = False  # a piece ending in "\r" may be half of a "\r\n"
    bom = bom_checked = False
    while True:
        raw = stream.read(piece_bytes)
        if read == 0:
            if not raw:
                raise CorpusError(f"{name} is empty; give a text with some text in it" if kind else
                                  "standard input is empty; pipe a text into it, or give a file")
            sniff(label, raw[:SNIFF_BYTES], codec, kind)
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            offset = read - (len(exc.object) - len(raw)) + exc.start  # the decoder held some bytes back
            raise CorpusError(f"{name} is not valid {encoding} (byte 0x{exc.object[exc.start]:02x} at offset "
                              f"{offset}); pass --encoding for another encoding") from None
        read += len(raw)
        if codec != "utf-8":  # strict UTF-8 never yields a lone surrogate; some codecs do
            check_decoded(text, name, encoding, produced)
        if not bom_checked and text:  # only the very first character can be a byte-order mark
            bom_checked = True
            if text.startswith("\ufeff"):
                text, bom = text[1:], True
        if not keep_crlf:
            if held_cr:
                text, held_cr = "\r" + text, False
            if raw and text.endswith("\r"):
                text, held_cr = text[:-1], True
            crlf += text.count("\r\n")
            text = text.replace("\r\n", "\n")
        if on_bytes is not None:
            on_bytes(read)
        if text:
            produced += len(text)
            yield text
        if not raw:
            break
    if notes is not None:
        notes.extend((["removed byte-order mark"] if bom else []) +
                     ([f"CRLF -> LF ({crlf:,} line endings)"] if crlf else []))


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False

