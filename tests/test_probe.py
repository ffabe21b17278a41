"""The model's view of a text: next-character distribution, surprisal, scores, and the
`workbench probe` / `workbench score` commands."""
from __future__ import annotations

import json
import math

import pytest
import torch
from support import make_session, run_trainer, small_text

from workbench.cli import main
from workbench.engine.errors import WorkbenchError
from workbench.engine.infer.inference import load_model
from workbench.engine.corpus.text import read_text as read_text_file
from workbench.engine.infer.probe import next_char_distribution, sampling_cut, score_text, surprisal
from workbench.engine.infer.sampling import filter_logits

ODD = "\u2603"  # a snowman: in no corpus of ours


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    sessions = root / "sessions"
    session = make_session(sessions, small_text(root), name="p", checkpoint_every=10, keep_last=3)
    run_trainer(session, steps=20)
    model, vocab, _ = load_model(session, "latest", "cpu")
    assert ODD not in vocab
    return sessions, session, model, vocab


def test_next_char_distribution_is_the_softmax_of_the_last_logits(trained):
    _, _, model, vocab = trained
    dist = next_char_distribution(model, vocab, "The ")
    assert sorted(c for c, _ in dist) == sorted(vocab)
    probs = [p for _, p in dist]
    assert probs == sorted(probs, reverse=True)
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-6)
    ids = torch.tensor([[vocab.index(c) for c in "The "]])
    with torch.no_grad():
        logits, _ = model(ids, model.init_hidden(1))
    expected = torch.softmax(logits[0, -1], dim=-1)
    for ch, p in dist:
        assert p == pytest.approx(float(expected[vocab.index(ch)]), abs=1e-7)
    with pytest.raises(WorkbenchError, match="empty"):
        next_char_distribution(model, vocab, "")


def test_surprisal_is_what_stepping_character_by_character_gives(trained):
    _, _, model, vocab = trained
    text = "The house was quiet when Anna came home.\nShe said nothing."
    per_char, mean = surprisal(model, vocab, text)
    hidden, expected = model.init_hidden(1), []
    for a, b in zip(text, text[1:]):
        logits, hidden = model.step(torch.tensor([vocab.index(a)]), hidden)
        expected.append(-math.log2(float(torch.softmax(logits[0].double(), dim=-1)[vocab.index(b)])))
    assert len(per_char) == len(text) - 1
    assert per_char == pytest.approx(expected, abs=1e-4)
    assert mean == pytest.approx(sum(per_char) / len(per_char), abs=1e-12)
    with pytest.raises(WorkbenchError, match="at least two"):
        surprisal(model, vocab, "T")


def test_long_texts_are_scored_in_chunks_with_the_same_result(trained, monkeypatch):
    _, _, model, vocab = trained
    text = "".join(vocab[(i * 7) % len(vocab)] for i in range(500))
    whole = surprisal(model, vocab, text)
    import workbench.engine.infer.probe as probe

    monkeypatch.setattr(probe, "CHUNK", 37)
    chunked = surprisal(model, vocab, text)
    assert chunked[0] == pytest.approx(whole[0], abs=1e-5)
    assert chunked[1] == pytest.approx(whole[1], abs=1e-6)


def test_unknown_characters_are_an_error_or_dropped(trained):
    _, _, model, vocab = trained
    with pytest.raises(WorkbenchError, match="U\\+2603.*--skip-unknown"):
        score_text(model, vocab, f"The {ODD}cat")
    s = score_text(model, vocab, f"The {ODD}cat{ODD}", skip_unknown=True)
    assert s.unknown == {ODD: 2} and s.dropped == 2 and s.chars == 9
    assert s.bits[0] is None and s.bits[4] is None and s.bits[8] is None
    assert all(b is not None for i, b in enumerate(s.bits) if i not in (0, 4, 8))
    assert s.scored == len("The cat") - 1
    assert s.mean_bits == surprisal(model, vocab, "The cat")[1]


def test_sampling_cut_agrees_with_the_sampler():
    torch.manual_seed(0)
    logits = torch.randn(1, 40) * 2.5
    probs = sorted(torch.softmax(logits[0].double(), dim=-1).tolist(), reverse=True)
    for top_k in (None, 1, 3, 10):
        for top_p in (None, 0.3, 0.8, 0.95, 1.0):
            for temperature in (0.5, 1.0, 1.7):
                kept = int(torch.isfinite(filter_logits(logits, top_k, top_p, temperature)).sum())
                assert sampling_cut(probs, top_k, top_p, temperature) == kept, (top_k, top_p, temperature)


def test_text_files_are_read_by_the_corpus_rules(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    text, notes = read_text_file(path)
    assert text == "one\ntwo\n" and any("CRLF" in n for n in notes) and any("byte-order" in n for n in notes)
    assert read_text_file(path, keep_crlf=True)[0] == "one\r\ntwo\r\n"
    (tmp_path / "bin").write_bytes(b"ab\x00cd")
    (tmp_path / "latin").write_bytes(b"caf\xe9")
    for name, match in (("bin", "binary"), ("latin", "not valid utf-8"), ("missing", "does not exist"), ("", "directory")):
        with pytest.raises(WorkbenchError, match=match):
            read_text_file(tmp_path / name)


# -- the command line ---------------------------------------------------------------------------
def _run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_probe_json_has_the_top_and_the_full_distribution(trained, capsys):
    sessions, _, _, vocab = trained
    code, out, err = _run(capsys, "probe", "p", "--prime", "Th", "--top", "5", "--json", "--device", "cpu",
                          "--sessions-dir", str(sessions))
    assert code == 0, err
    data = json.loads(out)
    assert {"session", "step", "checkpoint", "prime", "top", "distribution"} <= set(data)
    assert data["prime"] == "Th" and data["step"] == 20 and data["checkpoint"] == "latest"
    assert len(data["top"]) == 5 and data["top"] == data["distribution"][:5]
    assert sorted(d["char"] for d in data["distribution"]) == sorted(vocab)
    assert math.fsum(d["prob"] for d in data["distribution"]) == pytest.approx(1.0, abs=1e-6)
    code, out, err = _run(capsys, "probe", "p", "--prime", "Th", "--top", "3", "--checkpoint", "10",
                          "--sessions-dir", str(sessions))
    assert code == 0 and "step 10" in err
    assert len([line for line in out.splitlines() if line.startswith("  '")]) == 3


def test_score_is_the_mean_surprisal_of_the_file(trained, capsys, tmp_path):
    sessions, _, model, vocab = trained
    passage = "The house was quiet.\r\nAnna came home late.\r\n"
    path = tmp_path / "passage.txt"
    path.write_bytes(passage.encode())
    code, out, err = _run(capsys, "score", "p", str(path), "--json", "--device", "cpu", "--sessions-dir", str(sessions))
    assert code == 0, err
    data = json.loads(out)
    text = passage.replace("\r\n", "\n")
    assert data["chars"] == len(text) and data["scored"] == len(text) - 1
    assert data["mean_bits"] == pytest.approx(surprisal(model, vocab, text)[1], abs=1e-9)
    assert data["mean_nats"] == pytest.approx(data["mean_bits"] * math.log(2))
    code, out, err = _run(capsys, "score", "p", str(path), "--sessions-dir", str(sessions))
    assert code == 0 and "bits/char" in out and "CRLF" in err


def test_unknown_characters_are_one_line_errors(trained, capsys, tmp_path):
    sessions = str(trained[0])
    code, out, err = _run(capsys, "probe", "p", "--prime", f"T{ODD}", "--sessions-dir", sessions)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("workbench: error:") and "U+2603" in err
    path = tmp_path / "odd.txt"
    path.write_text(f"The {ODD} cat sat.\n")
    code, out, err = _run(capsys, "score", "p", str(path), "--sessions-dir", sessions)
    assert code == 2 and err.count("\n") == 1 and "U+2603" in err and "--skip-unknown" in err
    code, out, err = _run(capsys, "score", "p", str(path), "--skip-unknown", "--json", "--sessions-dir", sessions)
    assert code == 0 and json.loads(out)["unknown"] == {ODD: 1}
    clean = tmp_path / "clean.txt"
    clean.write_text("The cat sat.\n")
    code, out, err = _run(capsys, "score", "p", str(clean), "--checkpoint", "7", "--sessions-dir", sessions)
    assert code == 2 and err.count("\n") == 1 and "no checkpoint at step 7" in err
    code, out, err = _run(capsys, "score", "p", str(tmp_path / "nope.txt"), "--sessions-dir", sessions)
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
