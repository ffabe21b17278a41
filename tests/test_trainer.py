import json
import threading
import time
from dataclasses import replace

import pytest
import torch

from workbench.engine.control import commands as cmd
from workbench.engine.control import events as ev
from workbench.engine.sessions.checkpoint import load_checkpoint
from workbench.engine.config import SampleSettings
from workbench.engine.sessions.session import read_jsonl
from workbench.engine.train.trainer import Trainer

from support import make_session, run_trainer, shared_corpus, small_text


def test_loss_falls_on_anna_small_in_a_short_run(tmp_path):
    session = make_session(tmp_path, shared_corpus("anna_small.txt"), hidden=128, batch_size=32, seq_length=64,
                           eval_every=0, log_every=1, dropout=0.5, lr=0.01)
    final, _ = run_trainer(session, steps=120)
    assert isinstance(final, ev.Finished) and final.reason == "budget"
    losses = [m["train_loss"] for m in read_jsonl(session.metrics_path) if "train_loss" in m]
    assert losses[0] > 4.0  # the first step: about ln(75) = 4.3 for 75 symbols
    assert sum(losses[-10:]) / 10 < 2.75, losses[-10:]  # well below the unigram entropy of this text (about 3.1 nats)
    assert final.best_val_loss < 2.6


def _weights(session):
    return load_checkpoint(session.checkpoint_path("latest"))["model"]


def test_resume_reproduces_an_uninterrupted_run_exactly(tmp_path):
    text = small_text(tmp_path)  # 20,000 chars: 112 steps per epoch, so the runs cross an epoch
    common = dict(log_every=1, eval_every=7, schedule="decay", decay_after=0, decay_rate=0.9)
    straight = make_session(tmp_path / "a", text, **common)
    final_a, _ = run_trainer(straight, steps=140)
    interrupted = make_session(tmp_path / "b", text, **common)
    run_trainer(interrupted, steps=70)
    final_b, events = run_trainer(interrupted, steps=140)
    assert any(isinstance(e, ev.Started) and e.resumed and e.step == 70 for e in events)
    a = [(m["step"], m["train_loss"]) for m in read_jsonl(straight.metrics_path) if "train_loss" in m]
    b = [(m["step"], m["train_loss"]) for m in read_jsonl(interrupted.metrics_path) if "train_loss" in m]
    assert [s for s, _ in a] == list(range(1, 141))
    assert a == b  # identical, not merely close
    wa, wb = _weights(straight), _weights(interrupted)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert final_a.step == final_b.step == 140


def test_budget_in_epochs_and_metrics_fields(tmp_path):
    session = make_session(tmp_path, small_text(tmp_path, 6_000), clip=0.0)  # unclipped: norm still measured
    final, events = run_trainer(session, epochs=1)
    started = next(e for e in events if isinstance(e, ev.Started))
    assert final.step == started.steps_per_epoch
    record = read_jsonl(session.metrics_path)[-1]
    for key in ("step", "epoch", "train_loss", "lr", "grad_norm", "chars_per_sec", "time", "val_loss"):
        assert key in record, key
    assert record["val_full"] is True  # the final checkpoint's full pass
    assert record["grad_norm"] > 0
    status = json.loads(session.status_path.read_text())
    assert status["state"] == "finished" and status["step"] == final.step


def test_pause_resume_stop_and_commands_between_steps(tmp_path):
    session = make_session(tmp_path, small_text(tmp_path), log_every=1, eval_every=0)
    trainer = Trainer(session)
    seen: list = []
    logged = threading.Event()
    paused = threading.Event()

    def watch(event):
        seen.append(event)
        if isinstance(event, ev.StepsLogged) and event.step >= 3:
            logged.set()
        if isinstance(event, ev.Paused):
            paused.set()

    trainer.subscribe(watch)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(trainer.run()))
    thread.start()
    assert logged.wait(60)
    step_at_request = trainer.step
    trainer.send(cmd.Pause())
    assert paused.wait(10)
    pause_event = next(e for e in seen if isinstance(e, ev.Paused))
    assert pause_event.step <= step_at_request + 1  # within one step
    time.sleep(0.6)
    assert trainer.step == pause_event.step  # really paused
    assert json.loads(session.status_path.read_text())["state"] == "paused"
    trainer.send(cmd.SetLearningRate(0.0123))
    trainer.send(cmd.SetSampleSettings(length=20, temperature=0.5, prime="A"))
    trainer.send(cmd.SampleNow())
    trainer.send(cmd.CheckpointNow())
    trainer.send(cmd.Resume())
    deadline = time.time() + 30
    while trainer.step < pause_event.step + 3 and time.time() < deadline:
        time.sleep(0.05)
    trainer.send(cmd.Stop())
    thread.join(60)
    final = result[0]
    assert isinstance(final, ev.Finished) and final.state == "stopped"
    kinds = [e.kind for e in seen]
    assert "resumed" in kinds and "checkpoint" in kinds
    sample = next(e for e in seen if isinstance(e, ev.SampleGenerated))
    assert sample.text.startswith("A") and len(sample.text) == 21 and sample.temperature == 0.5
    later_lrs = [e.lr for e in seen if isinstance(e, ev.StepsLogged) and e.step > pause_event.step]
    assert later_lrs and all(lr == pytest.approx(0.0123) for lr in later_lrs)
    saved = load_checkpoint(session.checkpoint_path("latest"))
    assert saved["step"] == final.step and saved["base_lr"] == pytest.approx(0.0123)
    assert json.loads(session.status_path.read_text())["state"] == "stopped"


def test_bad_commands_become_warnings_not_crashes(tmp_path):
    session = make_session(tmp_path, small_text(tmp_path))
    session.write_config(session.read_config().with_budget(4, None, None))
    trainer = Trainer(session)
    seen: list = []
    trainer.subscribe(seen.append)
    trainer.send(cmd.SetLearningRate(-1.0))
    trainer.send(cmd.SetSampleSettings(prime="\u2603"))
    final = trainer.run()
    assert isinstance(final, ev.Finished) and final.step == 4
    warnings = [e.message for e in seen if isinstance(e, ev.Warning)]
    assert any("learning rate" in w for w in warnings)
    assert any("\u2603" in w or "U+2603" in w for w in warnings)


def test_a_stalling_or_failing_subscriber_cannot_hold_up_training(tmp_path):
    session = make_session(tmp_path, small_text(tmp_path), log_every=1)
    session.write_config(session.read_config().with_budget(30, None, None))
    trainer = Trainer(session)
    release = threading.Event()
    trainer.subscribe(lambda event: release.wait(30))  # blocks on every event

    def explode(event):
        raise RuntimeError("subscriber bug")

    trainer.subscribe(explode)
    started = time.time()
    thread_result: list = []
    t = threading.Thread(target=lambda: thread_result.append(trainer.run()))
    t.start()
    t.join(60)
    release.set()
    assert thread_result and isinstance(thread_result[0], ev.Finished)
    assert time.time() - started < 60


class _LossAfter:
    """Wraps cross_entropy: after `after` calls in training, multiply the loss by `factor`."""

    def __init__(self, real, after, factor):
        self.real, self.after, self.factor, self.calls = real, after, factor, 0

    def __call__(self, *args, **kwargs):
        loss = self.real(*args, **kwargs)
        if kwargs.get("reduction", "mean") == "mean":
            self.calls += 1
            if self.calls > self.after:
                return loss * self.factor
        return loss


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import workbench.engine.train.step as step_module

    session = make_session(tmp_path, small_text(tmp_path), checkpoint_every=10, log_every=5)
    monkeypatch.setattr(step_module.F, "cross_entropy", _LossAfter(step_module.F.cross_entropy, 23, float("nan")))
    final, _ = run_trainer(session, steps=100)
    assert isinstance(final, ev.Failed)
    assert "nan" in final.error and "step 10" in final.error or "step 20" in final.error
    status = json.loads(session.status_path.read_text())
    assert status["state"] == "failed" and status["error"]
    good = load_checkpoint(session.checkpoint_path("latest"))
    assert good["step"] == 20
    assert all(torch.isfinite(t).all() for t in good["model"].values())


def test_explosion_guard(tmp_path, monkeypatch):
    import workbench.engine.train.step as step_module

    session = make_session(tmp_path, small_text(tmp_path), log_every=5)
    monkeypatch.setattr(step_module.F, "cross_entropy", _LossAfter(step_module.F.cross_entropy, 12, 10.0))
    final, _ = run_trainer(session, steps=60)
    assert isinstance(final, ev.Failed) and "exploded past 3x the first logged loss" in final.error


def test_explosion_guard_when_the_first_interval_already_blew_up(tmp_path, monkeypatch):
    import workbench.engine.train.step as step_module

    session = make_session(tmp_path, small_text(tmp_path), log_every=5)
    monkeypatch.setattr(step_module.F, "cross_entropy", _LossAfter(step_module.F.cross_entropy, 0, 1e6))
    final, _ = run_trainer(session, steps=60)
    assert isinstance(final, ev.Failed) and final.step == 5
    assert "exploded past 3x the loss of a uniform guess" in final.error


def test_early_stopping_with_patience(tmp_path, monkeypatch):
    import workbench.engine.train.trainer as trainer_module

    values = iter([3.0, 3.1, 3.2, 3.3, 3.4, 3.5])
    monkeypatch.setattr(trainer_module, "validation_loss", lambda *a, **k: next(values))
    session = make_session(tmp_path, small_text(tmp_path), checkpoint_every=5, eval_every=0, patience=2)
    final, _ = run_trainer(session, steps=100)
    assert isinstance(final, ev.Finished) and final.reason == "early stopping"
    assert final.step == 15 and final.best_val_loss == 3.0
    assert load_checkpoint(session.checkpoint_path("best"))["step"] == 5


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    session = make_session(tmp_path, small_text(tmp_path), checkpoint_every=10, keep_last=3)
    run_trainer(session, steps=30)
    latest = session.checkpoint_path("latest")
    data = latest.read_bytes()
    latest.unlink()  # latest is a hard link to step 30: replace it with a truncated copy
    latest.write_bytes(data[: len(data) // 2])
    session.checkpoint_path(30).unlink()
    final, events = run_trainer(session, steps=40)
    warnings = [e.message for e in events if isinstance(e, ev.Warning)]
    assert any("corrupt or truncated" in w and "step 20" in w for w in warnings)
    assert any(isinstance(e, ev.Started) and e.step == 20 for e in events)
    steps = [m["step"] for m in read_jsonl(session.metrics_path)]
    assert steps == sorted(steps) and len([s for s in steps if s == 25]) <= 2  # logged + no duplicates
    assert final.step == 40


def test_keep_last_prunes_old_step_checkpoints(tmp_path):
    session = make_session(tmp_path, small_text(tmp_path), checkpoint_every=5, keep_last=2)
    run_trainer(session, steps=25)
    assert [s for s, _ in session.step_checkpoints()] == [20, 25]
    assert session.checkpoint_path("best").exists()


def test_a_signal_writes_the_checkpoint_before_the_slow_full_validation(tmp_path, monkeypatch):
    """The process may be killed seconds after a SIGTERM or hang-up; a full validation of a
    large corpus takes longer. A second signal during that validation still leaves this step's
    checkpoint, and the session listed as stopped there, not as a crash."""
    import workbench.engine.train.trainer as trainer_module

    session = make_session(tmp_path, small_text(tmp_path), log_every=1, eval_every=0)
    real_validation = trainer_module.validation_loss
    trainer = Trainer(session)
    stop_at: list[int] = []
    on_disk: list[int] = []

    def second_signal_during_validation(*args, **kwargs):
        if len(args) < 3:  # the full pass (an estimate passes its batch count)
            on_disk.append(load_checkpoint(session.checkpoint_path("latest"))["step"])
            raise KeyboardInterrupt
        return real_validation(*args, **kwargs)

    def stop_on_a_signal(event):
        if isinstance(event, ev.StepsLogged) and event.step == 4 and not stop_at:
            stop_at.append(event.step)
            monkeypatch.setattr(trainer_module, "validation_loss", second_signal_during_validation)
            trainer.send(cmd.Stop(reason="signal SIGTERM", urgent=True))

    trainer.subscribe(stop_on_a_signal)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    data = load_checkpoint(session.checkpoint_path("latest"))
    assert on_disk == [data["step"]] and data["step"] >= stop_at[0]  # on disk before the validation began
    assert data["val_loss"] is None
    status = session.read_status()
    assert status["state"] == "stopped" and status["reason"] == "aborted" and status["step"] == data["step"]
    monkeypatch.setattr(trainer_module, "validation_loss", real_validation)
    final, events = run_trainer(session, steps=data["step"] + 2)
    assert isinstance(final, ev.Finished)
    assert any(isinstance(e, ev.Started) and e.resumed and e.step == data["step"] for e in events)


def test_a_run_that_ends_between_samples_draws_one_of_its_final_model(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path), sample_every=7, threads=1)
    session.write_config(replace(session.read_config(), sample=SampleSettings(length=20, prime="T")))
    final, _ = run_trainer(session, steps=10)
    assert final.kind == "finished"
    assert [s["step"] for s in read_jsonl(session.samples_path)] == [7, 10]
    final, _ = run_trainer(session, steps=14)  # ends on a sample step: that one, not a second
    assert [s["step"] for s in read_jsonl(session.samples_path)] == [7, 10, 14]
