"""bf16 autocast training: chosen where it pays, exact on resume, fp32 kept for old sessions."""
import pytest
import torch

from workbench.engine.control import events as ev
from workbench.engine.sessions.checkpoint import load_checkpoint
from workbench.engine.config import TrainConfig
from workbench.engine.machine.device import AUTO_BF16_MIN_HIDDEN, native_bf16_cpu, resolve_precision
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import read_jsonl

from support import make_session, run_trainer, small_text

CPU = torch.device("cpu")


def test_explicit_precisions_resolve_as_asked():
    assert resolve_precision("fp32", CPU, 512) is None
    assert resolve_precision("bf16", CPU, 32) is torch.bfloat16


def test_auto_is_bf16_only_for_wide_models_on_cpus_with_native_bf16():
    wide = resolve_precision("auto", CPU, AUTO_BF16_MIN_HIDDEN)
    assert wide == (torch.bfloat16 if native_bf16_cpu() else None)
    assert resolve_precision("auto", CPU, AUTO_BF16_MIN_HIDDEN - 1) is None  # too small to gain
    assert resolve_precision("auto", torch.device("cuda"), 512) is None  # CUDA: TF32 unless asked


def test_precision_is_validated_and_old_sessions_keep_fp32():
    with pytest.raises(WorkbenchError, match="--precision must be one of auto, fp32, bf16"):
        TrainConfig(precision="fp16").validate()
    old = TrainConfig().to_dict()
    del old["precision"]
    assert TrainConfig.from_dict(old).precision == "fp32"  # trained in fp32 before `precision` existed
    assert TrainConfig.from_dict({**old, "bf16": True}).precision == "bf16"
    assert TrainConfig.from_dict(TrainConfig().to_dict()).precision == "auto"


def test_bf16_training_learns_resumes_exactly_and_saves_fp32_weights(tmp_path):
    text = small_text(tmp_path)
    common = dict(precision="bf16", log_every=1, eval_every=7)
    straight = make_session(tmp_path / "a", text, **common)
    final_a, events = run_trainer(straight, steps=60)
    started = next(e for e in events if isinstance(e, ev.Started))
    assert started.device.endswith("bf16")
    assert straight.read_status()["device"] == "cpu bf16"
    losses = [m["train_loss"] for m in read_jsonl(straight.metrics_path) if "train_loss" in m]
    assert sum(losses[-5:]) / 5 < losses[0] - 0.5  # it learns

    interrupted = make_session(tmp_path / "b", text, **common)
    run_trainer(interrupted, steps=30)
    final_b, _ = run_trainer(interrupted, steps=60)
    b = [m["train_loss"] for m in read_jsonl(interrupted.metrics_path) if "train_loss" in m]
    assert b == losses  # the carried bf16 hidden state survives the checkpoint exactly
    wa = load_checkpoint(straight.checkpoint_path("latest"))["model"]
    wb = load_checkpoint(interrupted.checkpoint_path("latest"))["model"]
    assert all(t.dtype == torch.float32 for t in wa.values())  # master weights stay fp32
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_bf16_session_resumes_under_fp32(tmp_path):
    """Another machine (auto resolving to fp32) must be able to continue a bf16 session."""
    session = make_session(tmp_path, small_text(tmp_path), precision="bf16")
    run_trainer(session, steps=10)
    config = session.read_config()
    config.precision = "fp32"
    session.write_config(config)
    final, _ = run_trainer(session, steps=20)
    assert isinstance(final, ev.Finished) and final.step == 20
    assert session.read_status()["device"] == "cpu fp32"


def test_bf16_asked_on_a_cpu_without_it_warns_but_trains(tmp_path, monkeypatch):
    monkeypatch.setattr("workbench.engine.machine.device.native_bf16_cpu", lambda: False)
    assert resolve_precision("auto", CPU, 512) is None  # auto never picks emulated bf16
    session = make_session(tmp_path, small_text(tmp_path), precision="bf16")
    final, events = run_trainer(session, steps=5)
    assert isinstance(final, ev.Finished)
    warnings = [e.message for e in events if isinstance(e, ev.Warning)]
    assert any("no native bfloat16" in w and "slower than fp32" in w for w in warnings), warnings
