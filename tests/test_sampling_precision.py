"""Sampling a model with the weights it was trained with: bf16 for a session trained under bf16
autocast (where bf16 is native), fp32 otherwise or on request (engine/inference.py)."""
import json

import pytest
import torch

from workbench.engine import inference
from workbench.engine.config import SampleSettings
from workbench.engine.errors import WorkbenchError
from workbench.engine.inference import load_model, sampling_dtype, trained_precision
from workbench.engine.sampling import generate
from workbench.models.charrnn import CharRNN, ModelConfig
from workbench.models.stepper import CharStepper

from support import make_session, run_cli, run_trainer, small_text

VOCAB = list(" abcdefghij")
CPU = torch.device("cpu")


def test_the_weights_follow_the_training_where_bf16_is_native(monkeypatch):
    assert trained_precision({"precision": "bf16"}) == "bf16"
    assert trained_precision({"precision": "fp32", "train_config": {"precision": "bf16"}}) == "fp32"
    # checkpoints from before the field: only a bf16 asked for by name is known to be bf16
    assert trained_precision({"train_config": {"precision": "bf16"}}) == "bf16"
    assert trained_precision({"train_config": {"precision": "auto"}}) == "fp32"
    monkeypatch.setattr(inference, "native_bf16_cpu", lambda: True)
    assert sampling_dtype("auto", "bf16", CPU) == torch.bfloat16
    assert sampling_dtype("auto", "fp32", CPU) == torch.float32  # an fp32 session: always fp32
    assert sampling_dtype("fp32", "bf16", CPU) == torch.float32  # on request
    monkeypatch.setattr(inference, "native_bf16_cpu", lambda: False)
    assert sampling_dtype("auto", "bf16", CPU) == torch.float32  # emulated bf16 is slower than fp32
    assert sampling_dtype("bf16", "fp32", CPU) == torch.bfloat16  # asked for by name
    with pytest.raises(WorkbenchError, match="--precision must be one of auto, fp32, bf16"):
        sampling_dtype("int4", "fp32", CPU)


@pytest.fixture(scope="module")
def bf16_model():
    torch.manual_seed(0)
    m = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden=24, layers=2, dropout=0.0))
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)  # sharper distributions, so top-k actually cuts something
    return m.eval().to(torch.bfloat16)


def test_bf16_sampling_is_the_same_text_for_the_same_seed(bf16_model):
    for num in (1, 3):
        s = SampleSettings(length=80, top_k=None, prime="abc")
        a = generate(bf16_model, VOCAB, s, num=num, seed=7)
        assert a == generate(bf16_model, VOCAB, s, num=num, seed=7)
        assert a != generate(bf16_model, VOCAB, s, num=num, seed=8)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_bf16_top_k_never_emits_a_character_outside_the_k_most_likely(bf16_model, k):
    text = generate(bf16_model, VOCAB, SampleSettings(length=200, top_k=k, prime="a"), seed=k)[0]
    ids = [VOCAB.index(ch) for ch in text]
    # the sampler's own path, in bf16: the prime read by the model, then one character a step
    logits, hidden = bf16_model.read(torch.tensor(ids[:1]), bf16_model.init_hidden(1))
    stepper = CharStepper(bf16_model, hidden)
    for t in range(len(ids) - 1):
        row = (logits[0] if t == 0 else stepper.step_one(ids[t])).float()
        kth = torch.topk(row, k).values[-1]
        # bf16 logits tie often (8 bits of mantissa): a tie with the k-th is among the k most likely
        assert row[ids[t + 1]] >= kth, (t, text)


@pytest.fixture(scope="module")
def bf16_session(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bf16")
    session = make_session(tmp / "sessions", small_text(tmp), "b", hidden=32, layers=1, precision="bf16",
                           checkpoint_every=10, threads=1)
    final, _ = run_trainer(session, steps=10)
    assert final.kind == "finished"
    return tmp / "sessions", session


def test_a_bf16_session_samples_in_bf16_and_says_so(bf16_session, monkeypatch):
    sessions, session = bf16_session
    monkeypatch.setattr(inference, "native_bf16_cpu", lambda: True)
    model, _, info = load_model(session, "latest", "cpu")
    assert info["precision"] == info["trained"] == "bf16" and model.fc.weight.dtype == torch.bfloat16
    model, _, info = load_model(session, "latest", "cpu", precision="fp32")
    assert info["precision"] == "fp32" and model.fc.weight.dtype == torch.float32
    r = run_cli("sample", "b", "--length", "20", "--prime", "T", "--precision", "bf16", "--seed", "1",
                "--sessions-dir", str(sessions))
    assert r.returncode == 0 and ", bf16]" in r.stderr, r.stderr
    r = run_cli("sample", "b", "--length", "20", "--prime", "T", "--precision", "fp32", "--json",
                "--sessions-dir", str(sessions))
    assert r.returncode == 0 and json.loads(r.stdout)["precision"] == "fp32", r.stderr


def test_bf16_and_fp32_score_the_text_alike(bf16_session, tmp_path):
    sessions, _ = bf16_session
    text = tmp_path / "part.txt"
    text.write_text(small_text(tmp_path).read_text()[-20_000:])
    bits = {}
    for precision in ("fp32", "bf16"):
        r = run_cli("score", "b", str(text), "--precision", precision, "--json", "--sessions-dir", str(sessions))
        assert r.returncode == 0, r.stderr
        bits[precision] = json.loads(r.stdout)["mean_bits"]
    # the model as it was validated: its bf16 products against fp32's, on the same characters
    assert abs(bits["bf16"] - bits["fp32"]) < 0.01, bits
