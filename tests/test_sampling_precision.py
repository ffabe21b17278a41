"""Sampling a model with the weights it was trained with: bf16 for a session trained under bf16
autocast (where bf16 is native), fp32 otherwise or on request (engine/infer/inference.py)."""
import json

import pytest
import torch

from workbench.engine.infer import inference
from workbench.engine.errors import WorkbenchError
from workbench.engine.infer.inference import load_model, sampling_dtype, trained_precision
from workbench.models.cpu_stepper import CpuStepper

from support import check_sampling_path, make_session, run_cli, run_trainer, sharp_model, small_text

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


def test_bf16_sampling_is_deterministic_and_keeps_to_top_k():
    model = sharp_model(len(VOCAB)).to(torch.bfloat16)
    check_sampling_path(model, VOCAB, lambda hidden: CpuStepper(model, hidden))


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
