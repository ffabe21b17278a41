"""Texts that are scored or probed, not trained on: read whole by the corpus rules (the same
checks for a missing, empty, binary or wrongly encoded file; byte-order mark removed; CRLF ->
LF unless asked to keep it), from a file or from a stream such as standard input."""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from workbench.engine.corpus.checks import SNIFF_BYTES, check_file, open_binary, sniff, text_codec
from workbench.engine.errors import CorpusError


def read_text(source: str | Path | BinaryIO, *, encoding: str = "utf-8",
              keep_crlf: bool = False) -> tuple[str, list[str]]:
    """A whole text as a str, with notes on what was done: `source` is a file's path, or a
    binary stream (standard input's `sys.stdin.buffer`)."""
    codec = text_codec(encoding)
    if isinstance(source, (str, Path)):
        where = Path(source).expanduser()
        check_file(where)
        with open_binary(where) as f:
            raw = f.read()
        name = f"file {where}"
    else:
        raw = source.read()
        where, name = Path("standard input"), "standard input"
        if not raw:
            raise CorpusError("standard input is empty; pipe a text into it, or give a file")
    sniff(where, raw[:SNIFF_BYTES], codec)
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{name} is not valid {encoding} (byte 0x{raw[exc.start]:02x} at offset "
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
