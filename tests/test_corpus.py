"""The corpus layer: loading, cleaning, vocabulary, encoding, splitting, size checks, downloads.

All offline: downloads are served by a local http.server on 127.0.0.1. Every test runs with the
corpora cache, the user cache and WORKBENCH_CORPORA pointed into tmp_path, so nothing here reads
or writes the real corpora folder.
"""
from __future__ import annotations

import functools
import http.server
import io
import math
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from workbench.bench.encoding import make_large_text, measure_encoding
from workbench.corpora import catalog
from workbench.corpora.catalog import listing as known_corpora
from workbench.corpora.catalog import search_path as corpora_search_path
from workbench.engine.corpus.checks import check_fits
from workbench.engine.corpus.encode import encode_text
from workbench.engine.corpus import load as load_module
from workbench.engine.corpus.load import Corpus, CorpusSpec, load_corpus
from workbench.engine.errors import CorpusError

SHARED_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
GUTENBERG_FOOTER = "END OF THIS PROJECT GUTENBERG"


@pytest.fixture(autouse=True)
def isolated_corpora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every corpora folder into tmp_path; return the stand-in for the package folder."""
    pkg = tmp_path / "pkg-corpora"
    pkg.mkdir()
    monkeypatch.setattr(catalog, "package_dir", lambda: pkg)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.delenv("WORKBENCH_CORPORA", raising=False)
    for name in catalog.ENTRIES:
        monkeypatch.delenv(catalog.url_env_var(name), raising=False)
    # A proxy from the environment must not intercept the local test server.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return pkg


@pytest.fixture
def shared_corpora() -> Path:
    if not (SHARED_CORPORA / "anna.txt").is_file():
        pytest.fail(f"shared corpora missing: expected {SHARED_CORPORA}/anna.txt beside the repo")
    return SHARED_CORPORA


def write(path: Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def text_of(c: Corpus) -> str:
    return c.decode(c.ids)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ---------------------------------------------------------------------------------------------
# Vocabulary and encoding


def test_vocab_is_sorted_and_independent_of_text_order(tmp_path: Path) -> None:
    lines = ["the quick brown fox\n", "jumps over the lazy dog!\n", "ZEBRA 123 ~ {}\n"]
    a = load_corpus(CorpusSpec(str(write(tmp_path / "a.txt", "".join(lines)))))
    b = load_corpus(CorpusSpec(str(write(tmp_path / "b.txt", "".join(reversed(lines))))))
    again = load_corpus(CorpusSpec(str(tmp_path / "a.txt")))
    assert a.vocab == b.vocab == sorted(set("".join(lines)))
    assert np.array_equal(a.ids, again.ids) and a.vocab == again.vocab


def test_fast_and_general_paths_agree(tmp_path: Path) -> None:
    # The same text read as Latin-1 (byte path) and as UTF-8 (str path) gives identical results.
    text = "café au lait\r\nnaïve résumé\n" * 50
    latin = load_corpus(CorpusSpec(str(write(tmp_path / "l.txt", text, "latin-1")), "latin-1"))
    utf8 = load_corpus(CorpusSpec(str(write(tmp_path / "u.txt", text))))
    assert latin.vocab == utf8.vocab == sorted(set(text.replace("\r\n", "\n")))
    assert np.array_equal(latin.ids, utf8.ids)
    assert text_of(utf8) == text.replace("\r\n", "\n")
    assert any("latin-1" in n for n in latin.notes)


def test_round_trip_and_dtypes(tmp_path: Path) -> None:
    small = load_corpus(CorpusSpec(str(write(tmp_path / "s.txt", "hello, world\n"))))
    assert small.ids.dtype == np.uint8 and text_of(small) == "hello, world\n"

    wide_text = "".join(chr(0x4E00 + i) for i in range(300)) + "\nabc\n"
    wide = load_corpus(CorpusSpec(str(write(tmp_path / "w.txt", wide_text))))
    assert len(wide.vocab) == 300 + 4 and wide.ids.dtype == np.uint16
    assert text_of(wide) == wide_text

    huge_text = "".join(chr(c) for c in range(0x100, 0x100 + 70_000) if not 0xD800 <= c < 0xE000)
    huge = load_corpus(CorpusSpec(str(write(tmp_path / "h.txt", huge_text))))
    assert len(huge.vocab) > 65536 and huge.ids.dtype == np.int32
    assert text_of(huge) == huge_text


def test_fast_path_matches_reference_on_megabytes(tmp_path: Path, shared_corpora: Path) -> None:
    big = make_large_text(tmp_path / "big.txt", 3_000_000, shared_corpora / "anna_small.txt")
    raw = big.read_bytes()
    assert 2_900_000 < len(raw) <= 3_000_000 and raw.endswith(b"\r\n")
    c = load_corpus(CorpusSpec(str(big)))
    ref = raw.decode("ascii").replace("\r\n", "\n")
    assert c.vocab == sorted(set(ref))
    expected = np.searchsorted(
        np.array([ord(v) for v in c.vocab]), np.frombuffer(ref.encode("latin-1"), np.uint8)
    )
    assert c.ids.dtype == np.uint8 and np.array_equal(c.ids, expected)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 4096])
def test_crlf_across_read_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # Tiny read chunks put "\r" and "\n" of one CRLF in different chunks.
    monkeypatch.setattr(load_module, "CHUNK_BYTES", chunk)
    text = "ab\r\ncd\r\r\n\rx\r\n\r\ny\r"
    c = load_corpus(CorpusSpec(str(write(tmp_path / "t.txt", text))))
    assert text_of(c) == "ab\ncd\r\n\rx\n\ny\r"  # a lone \r stays
    assert "CRLF -> LF (4 line endings)" in c.notes


def test_keep_crlf_keeps_bytes(tmp_path: Path) -> None:
    text = "a\r\nb\rc\r\n"
    c = load_corpus(CorpusSpec(str(write(tmp_path / "t.txt", text)), keep_crlf=True))
    assert text_of(c) == text and "\r" in c.vocab


def test_utf8_bom_is_removed(tmp_path: Path) -> None:
    for body in ("plain ascii\n", "caf\u00e9\n"):
        c = load_corpus(CorpusSpec(str(write(tmp_path / "b.txt", b"\xef\xbb\xbf" + body.encode()))))
        assert text_of(c) == body and any("byte-order mark" in n for n in c.notes)


def test_encode_text_and_unknown_characters() -> None:
    vocab = sorted(set("hello world"))
    ids = encode_text("hold", vocab)
    assert ids.dtype == np.uint8 and [vocab[i] for i in ids] == list("hold")
    with pytest.raises(CorpusError) as err:
        encode_text("héllo, wörld", vocab)
    message = str(err.value)
    assert "'é' (U+00E9)" in message and "'ö'" in message and "','" in message
    assert "\n" not in message and err.value.exit_code == 2


# ---------------------------------------------------------------------------------------------
# Splitting and batch fit


def test_split_arithmetic_matches_baseline(tmp_path: Path) -> None:
    for n, val_frac in [(1000, 0.1), (101, 0.3), (977, 0.05), (10, 0.5)]:
        c = load_corpus(CorpusSpec(str(write(tmp_path / "s.txt", "ab" * (n // 2) + "c" * (n % 2)))))
        train, val = c.split(val_frac)
        cut = int(n * (1 - val_frac))  # seed_baseline.py: val_idx = int(len(data) * (1 - val_frac))
        assert len(train) == cut and len(val) == n - cut
        assert np.array_equal(np.concatenate([train, val]), c.ids)
    with pytest.raises(CorpusError, match="--val-frac"):
        c.split(1.0)


def test_check_fits_exact_boundary() -> None:
    for val_frac, bs, sl in [(0.1, 10, 50), (0.05, 3, 7), (0.5, 4, 4), (0.3, 1, 1), (0.9, 2, 5)]:
        per_batch = bs * sl

        def fits(n: int) -> bool:
            t = int(n * (1 - val_frac))
            return t >= per_batch and n - t >= per_batch

        minimum = next(n for n in range(1, 100 * per_batch) if fits(n))
        check_fits(minimum, val_frac, bs, sl)
        with pytest.raises(CorpusError) as err:
            check_fits(minimum - 1, val_frac, bs, sl)
        assert f"at least {minimum:,} characters" in str(err.value)
        for n in range(max(1, minimum - 30), minimum + 30):  # monotone: no gap above the minimum
            if fits(n):
                check_fits(n, val_frac, bs, sl)


def test_check_fits_messages() -> None:
    with pytest.raises(CorpusError) as err:
        check_fits(400, 0.1, 10, 50)
    msg = str(err.value)
    # 4,991 is exact: int(4991 * 0.9) = 4,491 for training and 500 for validation.
    assert "too short for one training batch" in msg and "at least 4,991 characters" in msg
    assert "--batch-size 10" in msg and "--seq-length 50" in msg and "--val-frac" in msg
    assert err.value.exit_code == 2

    with pytest.raises(CorpusError) as err:
        check_fits(4000, 0.1, 10, 50)  # train 3,600 >= 500, validation 400 < 500
    msg = str(err.value)
    assert "validation split is too short" in msg and "at least 4,991 characters" in msg
    assert "larger --val-frac" in msg and "--batch-size/--seq-length" in msg

    for bad in (0, 1, -0.1, 1.5, math.nan):
        with pytest.raises(CorpusError, match="--val-frac"):
            check_fits(10_000, bad, 1, 1)
    with pytest.raises(CorpusError, match="--batch-size"):
        check_fits(10_000, 0.1, 0, 1)
    with pytest.raises(CorpusError, match="--seq-length"):
        check_fits(10_000, 0.1, 1, 0)


# ---------------------------------------------------------------------------------------------
# The shared corpora and Project Gutenberg cleaning


def test_anna_as_plain_path(shared_corpora: Path) -> None:
    c = load_corpus(CorpusSpec(str(shared_corpora / "anna.txt")))
    assert (len(c), len(c.vocab)) == (1_985_223, 83)
    assert c.name == "anna" and c.origin == str((shared_corpora / "anna.txt").resolve())
    assert "CRLF -> LF (40,263 line endings)" in c.notes and "\r" not in c.vocab
    assert GUTENBERG_FOOTER in text_of(c)  # a plain path is not stripped

    kept = load_corpus(CorpusSpec(str(shared_corpora / "anna.txt"), keep_crlf=True))
    assert (len(kept), len(kept.vocab)) == (2_025_486, 84) and "\r" in kept.vocab


def test_named_anna_from_search_path_strips_footer(
    shared_corpora: Path, monkeypatch: pytest.MonkeyPatch, isolated_corpora: Path
) -> None:
    monkeypatch.setenv("WORKBENCH_CORPORA", f"/nonexistent{os.pathsep}{shared_corpora}")
    c = load_corpus(CorpusSpec("anna"), download=False)
    text = text_of(c)
    assert c.name == "anna" and c.origin == str((shared_corpora / "anna.txt").resolve())
    assert GUTENBERG_FOOTER not in text and "Project Gutenberg" not in text
    assert text.startswith("Chapter 1\n") and text.endswith('to put into\nit."\n')
    assert len(c) < 1_985_223 - 19_000
    assert any(n.startswith("removed Project Gutenberg licence footer") for n in c.notes)
    assert list(isolated_corpora.iterdir()) == []  # found, so nothing downloaded

    kept = load_corpus(CorpusSpec("anna", keep_crlf=True), download=False)
    kept_text = text_of(kept)
    assert kept_text.endswith('to put into\r\nit."\r\n') and GUTENBERG_FOOTER not in kept_text


@pytest.mark.parametrize("body", ["The book.\nLast line.", "Caf\u00e9 book.\nLast line."])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_gutenberg_header_and_footer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, newline: str
) -> None:
    raw = (
        "\ufeffThe Project Gutenberg eBook of Anna Karenina\n\nRelease date: ...\n\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK ANNA KARENINA ***\n\n\n"
        f"{body}\n\n\nEnd of the Project Gutenberg EBook of Anna Karenina\n\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK ANNA KARENINA ***\n\nThe licence, @#$%.\n"
    ).replace("\n", newline)
    folder = tmp_path / "mine"
    folder.mkdir()
    write(folder / "anna.txt", raw)
    monkeypatch.setenv("WORKBENCH_CORPORA", str(folder))
    c = load_corpus(CorpusSpec("anna"), download=False)
    assert text_of(c) == body + "\n"
    assert any("header" in n for n in c.notes) and any("footer" in n for n in c.notes)
    kept = load_corpus(CorpusSpec("anna", keep_crlf=True), download=False)
    assert text_of(kept) == (body + "\n").replace("\n", newline)


def test_python_help_builtin() -> None:
    from pydoc_data.topics import topics

    c = load_corpus(CorpusSpec("python-help"), download=False)
    assert c.name == "python-help" and c.origin == "builtin:python-help"
    assert text_of(c) == "\n\n".join(topics[k] for k in sorted(topics))
    assert len(c) > 100_000 and len(c.vocab) > 50 and c.ids.dtype == np.uint8
    assert c.describe().startswith(f"python-help: {len(c):,} chars, {len(c.vocab)} symbols")


def test_known_corpora_and_search_path(
    shared_corpora: Path, monkeypatch: pytest.MonkeyPatch, isolated_corpora: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("WORKBENCH_CORPORA", str(shared_corpora))
    path = corpora_search_path()
    assert path[:2] == [shared_corpora, isolated_corpora]
    assert path[2] == tmp_path / "user-cache" / "workbench" / "corpora"
    rows = {r["name"]: r for r in known_corpora()}
    assert set(rows) == {"anna", "tinyshakespeare", "python-help"}
    assert rows["anna"]["cached"] and rows["anna"]["path"] == str(shared_corpora / "anna.txt")
    assert rows["anna"]["url"].endswith("/char-rnn/data/anna.txt")
    assert rows["python-help"]["cached"] and rows["python-help"]["path"] is None
    assert all(r["title"] and r["description"] for r in rows.values())
    monkeypatch.delenv("WORKBENCH_CORPORA")
    assert not {r["name"]: r for r in known_corpora()}["tinyshakespeare"]["cached"]


# ---------------------------------------------------------------------------------------------
# Bad input: one line, exit code 2, nothing written


def _bad_inputs(tmp: Path) -> list[tuple[CorpusSpec, list[str]]]:
    (tmp / "folder").mkdir()
    write(tmp / "empty.txt", b"")
    write(tmp / "binary.bin", b"GIF89a\x00\x01\x02" + b"x" * 100)
    latin = b"x" * 1234 + "é".encode("latin-1") + b" rest\n"
    write(tmp / "latin.txt", latin)
    write(tmp / "utf16.txt", "hello\n".encode("utf-16"))
    write(tmp / "ok.txt", "fine\n")
    return [
        (CorpusSpec(str(tmp / "missing.txt")), ["does not exist", "anna"]),
        (CorpusSpec(str(tmp / "folder")), ["is a directory"]),
        (CorpusSpec(str(tmp / "empty.txt")), ["is empty"]),
        (CorpusSpec(str(tmp / "binary.bin")), ["binary", "NUL"]),
        (
            CorpusSpec(str(tmp / "latin.txt")),
            ["not valid UTF-8", "byte 0xe9 at offset 1234", "--encoding latin-1"],
        ),
        (CorpusSpec(str(tmp / "latin.txt"), "ascii"), ["not valid ascii", "--encoding"]),
        (CorpusSpec(str(tmp / "utf16.txt")), ["UTF-16", "--encoding utf-16"]),
        (CorpusSpec(str(tmp / "ok.txt"), "no-such-codec"), ["unknown text encoding", "--encoding"]),
        (CorpusSpec(str(tmp / "ok.txt"), "base64"), ["unknown text encoding"]),
        (CorpusSpec(""), ["no corpus given"]),
    ]


def test_bad_inputs_raise_one_line_and_write_nothing(tmp_path: Path) -> None:
    cases = _bad_inputs(tmp_path)
    before = tree(tmp_path)
    for spec, words in cases:
        with pytest.raises(CorpusError) as err:
            load_corpus(spec, progress=None)
        message = str(err.value)
        assert "\n" not in message, message
        assert err.value.exit_code == 2
        for word in words:
            assert word in message, (spec, message)
    assert tree(tmp_path) == before


def test_utf16_loads_with_its_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "u16.txt", "hello\r\nworld\n".encode("utf-16"))
    c = load_corpus(CorpusSpec(str(path), encoding="utf-16"))
    assert text_of(c) == "hello\nworld\n"


def test_text_emptied_by_cleaning_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "anna.txt", "\n\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nlicence\n")
    monkeypatch.setenv("WORKBENCH_CORPORA", str(tmp_path))
    with pytest.raises(CorpusError, match="has no text after cleaning"):
        load_corpus(CorpusSpec("anna"), download=False)


# ---------------------------------------------------------------------------------------------
# Downloads (local server only)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def server(tmp_path: Path):
    """Serve tmp_path/www on 127.0.0.1; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_download_caches_with_progress(
    server, monkeypatch: pytest.MonkeyPatch, isolated_corpora: Path
) -> None:
    www, base = server
    body = "Chapter 1\r\n\r\nHappy families.\r\n" * 2000
    footer = "*** END OF THIS PROJECT GUTENBERG EBOOK ANNA KARENINA ***\r\nlicence\r\n"
    write(www / "anna.txt", body + footer)
    monkeypatch.setenv(catalog.url_env_var("anna"), f"{base}/anna.txt")
    bar = io.StringIO()
    c = load_corpus(CorpusSpec("anna"), progress=bar)
    assert text_of(c) == body.replace("\r\n", "\n")
    assert "downloading anna.txt" in bar.getvalue() and "100%" in bar.getvalue()
    assert any(n.startswith("downloaded") for n in c.notes)
    assert sorted(p.name for p in isolated_corpora.iterdir()) == ["anna.txt"]  # no .part left
    assert c.origin == str((isolated_corpora / "anna.txt").resolve())

    (www / "anna.txt").unlink()  # now served 404: the cached copy must be used, no download
    again = load_corpus(CorpusSpec("anna"), progress=bar)
    assert np.array_equal(again.ids, c.ids) and not any("downloaded" in n for n in again.notes)


def test_download_falls_back_to_user_cache(
    server, monkeypatch: pytest.MonkeyPatch, isolated_corpora: Path, tmp_path: Path
) -> None:
    www, base = server
    write(www / "input.txt", "First Citizen:\nBefore we proceed any further, hear me speak.\n")
    monkeypatch.setenv(catalog.url_env_var("tinyshakespeare"), f"{base}/input.txt")
    monkeypatch.setattr(catalog.os, "access", lambda p, mode: Path(p) != isolated_corpora)
    c = load_corpus(CorpusSpec("tinyshakespeare"), progress=None)
    cached = tmp_path / "user-cache" / "workbench" / "corpora" / "tinyshakespeare.txt"
    assert cached.is_file() and c.origin == str(cached.resolve())
    assert list(isolated_corpora.iterdir()) == []


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/anna.txt"  # nothing listens there any more


def test_offline_says_where_to_put_the_file(
    monkeypatch: pytest.MonkeyPatch, isolated_corpora: Path
) -> None:
    monkeypatch.setenv(catalog.url_env_var("anna"), _closed_port_url())
    bar = io.StringIO()
    with pytest.raises(CorpusError) as err:
        load_corpus(CorpusSpec("anna"), progress=bar)
    msg = str(err.value)
    assert "\n" not in msg and err.value.exit_code == 2
    assert "is not cached and could not be downloaded (connection refused)" in msg
    assert "put the text of Anna Karenina" in msg and str(isolated_corpora / "anna.txt") in msg
    assert "gutenberg.org/cache/epub/1399/pg1399.txt" in msg and "WORKBENCH_CORPORA" in msg
    assert list(isolated_corpora.iterdir()) == []  # no partial file

    with pytest.raises(CorpusError, match="downloads are off: put the text of Anna Karenina"):
        load_corpus(CorpusSpec("anna"), download=False)


def test_http_errors_leave_nothing(
    server, monkeypatch: pytest.MonkeyPatch, isolated_corpora: Path
) -> None:
    _, base = server
    monkeypatch.setenv(catalog.url_env_var("anna"), f"{base}/missing.txt")
    with pytest.raises(CorpusError, match="HTTP 404"):
        load_corpus(CorpusSpec("anna"), progress=None)
    assert list(isolated_corpora.iterdir()) == []


def test_truncated_download_leaves_nothing(tmp_path: Path) -> None:
    from workbench.engine.corpus.fetch import DownloadError, download

    class Liar(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"only a little")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Liar)
    thread = threading.Thread(target=httpd.handle_request, daemon=True)
    thread.start()
    dest = tmp_path / "dl" / "x.txt"
    dest.parent.mkdir()
    try:
        with pytest.raises(DownloadError):
            download(f"http://127.0.0.1:{httpd.server_address[1]}/x", dest, progress=io.StringIO())
    finally:
        thread.join(5)
        httpd.server_close()
    assert list(dest.parent.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Benchmark helpers and import hygiene


def test_measure_encoding_small(tmp_path: Path) -> None:
    path = write(tmp_path / "m.txt", "abc\r\n" * 20_000)
    m = measure_encoding(path)
    assert m["chars"] == 80_000 and m["bytes"] == 100_000 and m["symbols"] == 4
    assert m["seconds"] > 0 and m["mb_per_s"] > 0 and m["peak_bytes_per_char"] > 0


def test_modules_import_without_numpy_or_torch() -> None:
    code = (
        "import sys, workbench.engine.corpus.load, workbench.corpora.catalog, workbench.engine.corpus.fetch;"
        "bad = [m for m in ('torch', 'numpy', 'textual') if m in sys.modules];"
        "sys.exit(f'imported: {bad}' if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
