"""Scoring and priming in bounded memory: a text read piece by piece scores the same number as
read whole, memory does not grow with the text's length, and a long prime costs the same for
many samples as for one."""
import io
import json
import subprocess
import sys

import pytest
import torch

from workbench.engine.infer import probe
from workbench.engine.config import SampleSettings
from workbench.engine.corpus.text import text_pieces
from workbench.engine.errors import CorpusError
from workbench.engine.infer.probe import score_pieces, score_text
from workbench.engine.infer.sampling import generate
from workbench.models.charrnn import CharRNN, ModelConfig

from support import make_session, run_cli, run_trainer, small_text

VOCAB = list("\nabc .")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CharRNN(ModelConfig(len(VOCAB), "lstm", 16, 2, 0.0)).eval()


@pytest.mark.parametrize("piece_bytes", [1, 2, 3, 7, 64, 1 << 20])
def test_pieces_join_to_the_whole_text_whatever_their_size(piece_bytes):
    data = "\ufeffab\r\ncd\r\r\nrésumé\r".encode("utf-8") * 5
    notes = []
    text = "".join(text_pieces(io.BytesIO(data), notes=notes, piece_bytes=piece_bytes))
    assert text == "ab\ncd\r\nrésumé\r" + ("\ufeffab\ncd\r\nrésumé\r" * 4)
    assert notes == ["removed byte-order mark", "CRLF -> LF (10 line endings)"]


def test_a_stream_of_zeros_is_binary_not_read_forever():
    with open("/dev/zero", "rb") as zeros:
        with pytest.raises(CorpusError, match="standard input looks binary"):
            list(text_pieces(zeros))
    with pytest.raises(CorpusError, match="file /dev/zero looks binary"):
        list(text_pieces("/dev/zero"))


def test_scored_in_pieces_and_chunks_it_is_the_same_number(model, monkeypatch):
    text = ("abc cab. ba\n" * 400)[:4_001]
    whole = score_text(model, VOCAB, text)
    monkeypatch.setattr(probe, "CHUNK", 37)  # many chunks, boundaries inside pieces and across them
    pieces = [text[i : i + 101] for i in range(0, len(text), 101)]
    streamed = score_pieces(model, VOCAB, pieces)
    assert (streamed.chars, streamed.scored) == (whole.chars, whole.scored) == (4_001, 4_000)
    assert streamed.mean_bits == pytest.approx(whole.mean_bits, rel=1e-12)
    assert streamed.total_bits == pytest.approx(whole.total_bits, rel=1e-12)


def test_unknown_characters_in_pieces_are_dropped_or_named(model):
    pieces = ["abc", "x ab", "c.x"]
    with pytest.raises(Exception, match=r"never saw \(the first after 3 characters\): 'x'"):
        score_pieces(model, VOCAB, pieces)
    dropped = score_pieces(model, VOCAB, pieces, skip_unknown=True)
    assert dropped.unknown == {"x": 2} and dropped.chars == 10
    assert dropped.mean_bits == pytest.approx(score_text(model, VOCAB, "abc abc.").mean_bits, rel=1e-12)


def test_a_long_prime_is_read_once_for_every_sample(model):
    prime = "abc ab.\n" * 4_000  # 32,000 characters
    settings = SampleSettings(length=20, top_k=3, prime=prime)
    one = generate(model, VOCAB, settings, num=1, seed=5)
    many = generate(model, VOCAB, settings, num=100, seed=5)
    assert len(many) == 100 and all(s.startswith(prime) and len(s) == len(prime) + 20 for s in many)
    assert one[0].startswith(prime)


def _peak_rss_mib(argv: list[str]) -> float:
    """Peak resident memory of `workbench ARGV` run in a child of a child (so that nothing else
    this test process ran counts), in MiB: ru_maxrss is in KiB on Linux."""
    wrapper = ("import resource, subprocess, sys\n"
               f"r = subprocess.run([sys.executable, '-m', 'workbench', *{argv!r}], capture_output=True, text=True)\n"
               "assert r.returncode == 0, r.stderr\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    return int(out.stdout) / 1024


def test_score_memory_does_not_grow_with_the_text(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path), hidden=8, layers=1, threads=1)
    run_trainer(session, steps=2)
    block = small_text(tmp_path).read_text()[:20_000]
    peaks = {}
    for megabytes in (1, 6):
        path = tmp_path / f"{megabytes}.txt"
        path.write_text(block * (megabytes * 50))
        peaks[megabytes] = _peak_rss_mib(["score", "s", str(path), "--sessions-dir", str(tmp_path / "sessions")])
    # 5 MB more text: the reader that kept every character's bits held ~300 bytes a character
    # (1.5 GB more); read in pieces, a few MB at most
    assert peaks[6] - peaks[1] < 60, peaks


def test_score_reads_standard_input_in_pieces(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path), hidden=8, layers=1, threads=1)
    run_trainer(session, steps=2)
    text = small_text(tmp_path).read_text()
    whole = run_cli("score", "s", str(small_text(tmp_path)), "--json", "--sessions-dir", str(tmp_path / "sessions"))
    piped = subprocess.run([sys.executable, "-m", "workbench", "score", "s", "-", "--json",
                            "--sessions-dir", str(tmp_path / "sessions")], input=text, capture_output=True,
                           text=True, timeout=300)
    assert whole.returncode == 0 and piped.returncode == 0, (whole.stderr, piped.stderr)
    a, b = json.loads(whole.stdout), json.loads(piped.stdout)
    assert (a["chars"], a["scored"]) == (b["chars"], b["scored"]) and a["mean_bits"] == pytest.approx(b["mean_bits"])
    r = subprocess.run([sys.executable, "-m", "workbench", "score", "s", "-", "--sessions-dir",
                        str(tmp_path / "sessions")], stdin=open("/dev/zero", "rb"), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "standard input looks binary" in r.stderr, r.stderr
