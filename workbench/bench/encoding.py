"""Corpus encoding speed and peak memory, on a large text made by repeating the corpus."""
from __future__ import annotations

import math
import time
import tracemalloc
from pathlib import Path
from typing import Any

from workbench.engine.errors import CorpusError, WorkbenchError


def measure_encoding(path: str | Path) -> dict[str, Any]:
    """Load and encode the text file `path` twice: once under tracemalloc for peak memory, once
    untraced for speed. MB are 10**6 bytes of the file as stored on disk."""
    from workbench.engine.corpus.load import CorpusSpec, load_corpus

    path = Path(path).resolve()
    spec = CorpusSpec(str(path))  # an absolute path: never taken for a corpus name
    size = path.stat().st_size if path.is_file() else 0

    # The traced run goes first: it also warms the page cache for the timed run.
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        corpus = load_corpus(spec, progress=None)
        peak = tracemalloc.get_traced_memory()[1] - base
        n = len(corpus)
        del corpus
    finally:
        if started:
            tracemalloc.stop()

    t0 = time.perf_counter()
    corpus = load_corpus(spec, progress=None)
    seconds = time.perf_counter() - t0
    return {
        "path": str(path),
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
    last whole line, so no character or CRLF is split). Streams: never holds more than one copy
    of the seed."""
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


def encoding_figures(corpus: Any, corpus_file: Path | None, megabytes: int, tmp_dir: Path) -> dict[str, Any]:
    """`measure_encoding` on a text of `megabytes` MB built from the corpus, deleted after."""
    seed = corpus_file
    if seed is None:  # a built-in corpus: write its text out to repeat it
        seed = tmp_dir / "seed.txt"
        seed.write_text(corpus.decode(corpus.ids), encoding="utf-8")
    big = tmp_dir / "encoding-bench.txt"
    try:
        make_large_text(big, megabytes * 1_000_000, seed)
        result = measure_encoding(big)
    except OSError as exc:
        raise WorkbenchError(f"corpus-encoding test: cannot write {megabytes} MB in {tmp_dir} ({exc.strerror or exc}); "
                             "free some space or pass a smaller --encoding-mb", exit_code=1) from None
    finally:
        big.unlink(missing_ok=True)
    result["seed"] = str(seed)
    result.pop("path", None)  # deleted already
    return result
