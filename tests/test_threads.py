"""The CPU thread count chosen from the machine's load (engine/machine/threads.py): under a pretended
load (the kernel's CPU counters replaced by a script), never by how busy this machine is."""
import json

import pytest
import torch

from workbench.engine.machine import threads
from workbench.engine.machine.threads import LoadProbe, ThreadGovernor, choose_threads, threads_for

from support import PretendMachine, make_session, run_cli, run_trainer, small_text


def test_one_thread_per_core_left_free():
    assert [threads_for(busy, 2) for busy in (0.0, 0.3, 0.49, 0.6, 1.0, 1.7, 2.0, 5.0)] == [2, 2, 2, 1, 1, 1, 1, 1]
    assert [threads_for(busy, 16) for busy in (0.0, 1.0, 3.6, 15.9)] == [16, 15, 12, 1]


def test_the_probe_counts_others_and_leaves_our_own_work_out(monkeypatch):
    machine = PretendMachine(monkeypatch, others=1.0)
    probe = LoadProbe()
    machine.wait(2.0)
    sum(i * i for i in range(300_000))  # our own CPU time, which must not count as a neighbour's
    assert probe.others_busy() == pytest.approx(1.0, abs=0.05)
    machine.others = 0.0
    machine.wait(1.0)
    assert probe.others_busy() == pytest.approx(0.0, abs=0.05)


def test_a_governor_gives_a_core_back_at_once_and_takes_it_again_when_it_stays_free(monkeypatch):
    before = torch.get_num_threads()
    machine = PretendMachine(monkeypatch, others=0.1)
    try:
        governor = ThreadGovernor(LoadProbe(), cores=2)
        assert governor.threads == 2 and torch.get_num_threads() == 2
        machine.others = 1.0  # a busy neighbour starts
        machine.wait(threads.RECHECK_SECONDS)
        assert governor.tick() and governor.threads == 1 and torch.get_num_threads() == 1
        machine.others = 0.0  # it ends: one quiet reading is not enough, two are
        machine.wait(threads.RECHECK_SECONDS)
        assert not governor.tick() and governor.threads == 1
        machine.wait(threads.RECHECK_SECONDS)
        assert governor.tick() and governor.threads == 2 and torch.get_num_threads() == 2
        machine.wait(1.0)
        assert not governor.tick()  # not yet time to look again
    finally:
        torch.set_num_threads(before)


def test_a_one_off_choice_waits_for_a_fair_look_unless_told_not_to(monkeypatch):
    before = torch.get_num_threads()
    machine = PretendMachine(monkeypatch, others=2.0)
    try:
        torch.set_num_threads(2)
        probe = LoadProbe()
        assert choose_threads(probe, cores=2, wait=False) == 2  # no time has passed: left alone
        assert choose_threads(probe, cores=2) == 1 and machine.now == pytest.approx(1000 + threads.PROBE_SECONDS)
    finally:
        torch.set_num_threads(before)


def test_the_losses_are_the_same_whatever_the_thread_count(tmp_path):
    """A resumed run may get another count (the load changed): its numbers must not change."""
    losses = []
    for count in (1, 2):
        session = make_session(tmp_path / f"t{count}", small_text(tmp_path), threads=count, log_every=1)
        run_trainer(session, steps=8)
        losses.append([r["train_loss"] for r in map(json.loads, session.metrics_path.read_text().splitlines())])
    assert losses[0] == losses[1]


def test_an_explicit_count_wins_and_the_count_is_in_the_status_and_ps(tmp_path):
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", "one", "--hidden", "32", "--layers", "1",
                "--batch-size", "8", "--seq-length", "20", "--log-every", "2", "--steps", "6", "--threads", "1",
                "--headless", "--sessions-dir", str(tmp_path / "sessions"))
    assert r.returncode == 0, r.stderr
    status = json.loads((tmp_path / "sessions" / "one" / "status.json").read_text())
    assert status["threads"] == 1
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", "auto", "--hidden", "32", "--layers", "1",
                "--batch-size", "8", "--seq-length", "20", "--log-every", "2", "--steps", "6", "--threads", "auto",
                "--headless", "--sessions-dir", str(tmp_path / "sessions"))
    assert r.returncode == 0, r.stderr
    status = json.loads((tmp_path / "sessions" / "auto" / "status.json").read_text())
    assert 1 <= status["threads"] <= threads.usable_cores()
    assert json.loads((tmp_path / "sessions" / "auto" / "config.json").read_text())["threads"] is None


def test_the_device_shown_follows_the_thread_count_in_use():
    from workbench.engine.formats import device_now

    assert device_now("cpu (2 threads)", 1) == "cpu (1 thread)"  # written at the start, re-chosen since
    assert device_now("cpu (1 thread) bf16", 2) == "cpu (2 threads) bf16"
    assert device_now("cpu", 2) == "cpu (2 threads)"
    assert device_now("cuda:0 (NVIDIA H200)", 2) == "cuda:0 (NVIDIA H200)"  # threads say nothing of a GPU
    assert device_now("cpu (2 threads)", None) == "cpu (2 threads)" and device_now(None, 2) is None
