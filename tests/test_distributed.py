"""One session trained by a group of processes (DDP under torchrun), on the CPU with gloo: two
processes, tiny models. What one process does, the group does: the same optimisation, exact
resume, commands from any shell, a checkpoint on a signal; and when a process dies, the others
exit and the session says which one."""
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from workbench.engine.sessions.checkpoint import load_checkpoint
from workbench.engine.sessions.session import Session, read_jsonl

from support import process_gone, run_cli, small_text, wait_until

GROUP = ["--hidden", "32", "--layers", "2", "--batch-size", "8", "--seq-length", "20", "--log-every", "5",
         "--eval-every", "10", "--checkpoint-every", "10", "--sample-every", "0", "--device", "cpu"]
TIMEOUT = 180  # a group starts three interpreters that import torch: slow on a busy 2-core machine


def _train(tmp_path, name, *extra, dropout="0.3"):
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", name, *GROUP, "--dropout", dropout,
                "--headless", *extra, "--sessions-dir", str(tmp_path / "sessions"), timeout=TIMEOUT)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r


def _session(tmp_path, name):
    return Session(tmp_path / "sessions" / name)


def _weights(session):
    return load_checkpoint(session.checkpoint_path("latest"))["model"]


def _losses(session):
    return [(m["step"], m.get("train_loss"), m.get("val_loss")) for m in read_jsonl(session.metrics_path)]


def test_two_processes_under_plain_torchrun_train_as_one(tmp_path):
    """The README's torchrun line; with dropout 0 the group's steps are the single process's
    (up to the order of the additions: DDP sums the rows' gradients in another order)."""
    _train(tmp_path, "one", "--steps", "30", "--threads", "1", dropout="0")
    line = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "workbench", "train", "--corpus", str(small_text(tmp_path)), "--session", "two", *GROUP,
            "--dropout", "0", "--steps", "30", "--headless", "--sessions-dir", str(tmp_path / "sessions")]
    r = subprocess.run(line, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.count("finished at step 30") == 1  # rank 0 speaks for the group
    one, two = _session(tmp_path, "one"), _session(tmp_path, "two")
    status = two.read_status()
    assert status["shape"] == "2 x cpu, gloo" and len(status["rank_pids"]) == 2 and status["processes"] == 2
    assert two.read_config().processes == 2  # the session remembers its group
    a, b = _losses(one), _losses(two)
    assert [s for s, _, _ in a] == [s for s, _, _ in b] and len(a) == 6
    for (_, ta, va), (_, tb, vb) in zip(a, b):
        assert ta == pytest.approx(tb, rel=1e-5) and (va is None) == (vb is None)
        assert va is None or va == pytest.approx(vb, rel=1e-5)
    wa, wb = _weights(one), _weights(two)
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-5
    [sessions_row] = [r for r in json.loads(run_cli("sessions", "--json", "--sessions-dir",
                                                    str(tmp_path / "sessions")).stdout) if r["name"] == "two"]
    assert sessions_row["shape"] == "2 x cpu, gloo"


def test_exact_resume_with_the_same_group_and_a_resume_with_another(tmp_path):
    _train(tmp_path, "whole", "--steps", "20", "--nproc", "2")
    _train(tmp_path, "halves", "--steps", "10", "--nproc", "2")
    r = run_cli("resume", "halves", "--steps", "20", "--headless", "--sessions-dir", str(tmp_path / "sessions"),
                timeout=TIMEOUT)
    assert r.returncode == 0 and "resuming at step 10 on 2 x cpu, gloo" in r.stdout, (r.stdout, r.stderr)
    whole, halves = _session(tmp_path, "whole"), _session(tmp_path, "halves")
    assert _losses(whole) == _losses(halves)  # dropout on: every rank's random state came back
    wa, wb = _weights(whole), _weights(halves)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    saved = load_checkpoint(halves.checkpoint_path("latest"))
    assert saved["world_size"] == 2 and len(saved["rng_ranks"]) == 2 and saved["hidden"][0].shape[1] == 8

    r = run_cli("resume", "halves", "--steps", "30", "--nproc", "1", "--headless", "--sessions-dir",
                str(tmp_path / "sessions"), timeout=TIMEOUT)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "made by 2 processes and this run has 1" in r.stderr and "finished at step 30" in r.stdout
    steps = [m["step"] for m in read_jsonl(halves.metrics_path)]
    assert steps == sorted(set(steps)) and steps[-1] == 30
    assert any(e["kind"] == "warning" and "rows are split anew" in e["message"] for e in read_jsonl(halves.events_path))


def test_a_batch_the_group_cannot_split_is_one_line(tmp_path):
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", "odd", *GROUP, "--batch-size", "9",
                "--nproc", "2", "--headless", "--steps", "5", "--sessions-dir", str(tmp_path / "sessions"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--batch-size 9 cannot be split evenly across 2 processes" in r.stderr
    assert not (tmp_path / "sessions" / "odd").exists()


def _detach(tmp_path, name, *extra):
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", name, *GROUP, "--steps", "100000",
                "--nproc", "2", "--detach", *extra, "--sessions-dir", str(tmp_path / "sessions"), timeout=TIMEOUT)
    assert r.returncode == 0 and "in the background" in r.stdout, (r.stdout, r.stderr)
    session = _session(tmp_path, name)
    wait_until(lambda: session.read_status().get("state") == "running" and session.read_status().get("rank_pids"),
               "the group to start", TIMEOUT)
    return session




def test_commands_reach_every_process_of_a_detached_group(tmp_path):
    session = _detach(tmp_path, "bg")
    sessions = ["--sessions-dir", str(tmp_path / "sessions")]
    pids = session.read_status()["rank_pids"]
    [row] = json.loads(run_cli("ps", "--json", *sessions).stdout)
    assert row["state"] == "running" and row["shape"] == "2 x cpu, gloo" and row["pid"] == pids[0]
    r = run_cli("pause", "bg", *sessions)
    assert r.returncode == 0 and "paused at step" in r.stdout, (r.stdout, r.stderr)
    step = session.read_status()["step"]
    wait_until(lambda: session.read_status()["state"] == "paused", "the pause")
    r = run_cli("resume", "bg", *sessions)
    assert r.returncode == 0, (r.stdout, r.stderr)
    wait_until(lambda: session.read_status()["step"] > step + 10, "steps after the resume", TIMEOUT)
    r = run_cli("stop", "bg", *sessions, timeout=TIMEOUT)
    assert r.returncode == 0, (r.stdout, r.stderr)
    status = session.read_status()
    assert status["state"] == "stopped" and status["checkpoint_step"] == status["step"]
    assert load_checkpoint(session.checkpoint_path("latest"))["step"] == status["step"]
    wait_until(lambda: all(process_gone(pid) for pid in pids), "every process of the group to exit", 60)


def test_a_killed_process_ends_the_group_and_the_session_says_which(tmp_path):
    session = _detach(tmp_path, "k", "--dist-timeout", "30")
    wait_until(lambda: (session.read_status().get("checkpoint_step") or 0) >= 20, "two checkpoints", TIMEOUT)
    pids = session.read_status()["rank_pids"]
    supervisor = session.read_status()["supervisor_pid"]
    os.kill(pids[1], signal.SIGKILL)
    wait_until(lambda: all(process_gone(pid) for pid in (*pids, supervisor)), "every process to exit", 90)
    status = session.live_status()
    assert status["state"] == "failed"
    assert f"rank 1 (process {pids[1]}) was killed by SIGKILL" in status["error"]
    assert "every process of the group has exited" in status["error"]
    kept = load_checkpoint(session.checkpoint_path("latest"))
    assert kept["step"] >= 20 and all(torch.isfinite(t).all() for t in kept["model"].values())


def test_a_group_restarted_by_torchrun_finishes_from_its_checkpoint(tmp_path):
    session = _detach(tmp_path, "r", "--max-restarts", "1", "--checkpoint-every", "50")
    wait_until(lambda: (session.read_status().get("checkpoint_step") or 0) >= 50, "a checkpoint", TIMEOUT)
    pids = session.read_status()["rank_pids"]
    os.kill(pids[1], signal.SIGKILL)
    wait_until(lambda: session.read_status().get("rank_pids") not in (None, pids)
               and session.read_status().get("state") == "running", "the restarted group", TIMEOUT)
    r = run_cli("stop", "r", "--sessions-dir", str(tmp_path / "sessions"), timeout=TIMEOUT)
    assert r.returncode == 0, (r.stdout, r.stderr)
    steps = [m["step"] for m in read_jsonl(session.metrics_path)]
    assert steps == sorted(set(steps)) and steps[-1] == session.read_status()["step"]
    started = [e for e in read_jsonl(session.events_path) if e["kind"] == "started"]
    assert len(started) == 2 and started[1]["step"] >= 50 and started[1]["resumed"]


def test_a_signal_to_the_launcher_stops_every_process_at_one_step_with_a_checkpoint(tmp_path):
    command = [sys.executable, "-m", "workbench", "train", "--corpus", str(small_text(tmp_path)), "--session", "sig",
               *GROUP, "--checkpoint-every", "0", "--steps", "100000", "--nproc", "2", "--headless",
               "--sessions-dir", str(tmp_path / "sessions")]
    launcher = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        session = _session(tmp_path, "sig")
        wait_until(lambda: session.status_path.exists() and session.read_status().get("step", 0) >= 20,
                   "twenty steps", TIMEOUT)
        pids = session.read_status()["rank_pids"]
        launcher.send_signal(signal.SIGTERM)
        out, err = launcher.communicate(timeout=TIMEOUT)
    finally:
        launcher.kill()
    assert launcher.returncode == 128 + signal.SIGTERM, (out, err)
    status = session.read_status()
    assert status["state"] == "stopped" and status["reason"] == "signal SIGTERM"
    saved = load_checkpoint(session.checkpoint_path("latest"))
    assert saved["step"] == status["step"] == status["checkpoint_step"] and len(saved["rng_ranks"]) == 2
    assert out.count("stopped at step") == 1 and err.count("SIGTERM received") == 1  # rank 0 speaks for all
    wait_until(lambda: all(process_gone(pid) for pid in pids), "every process of the group to exit", 60)


def test_two_machines_need_no_shared_folder(tmp_path):
    """The README's line for several machines, as two 'machines' here: each its own folder and
    sessions folder; only node 0's holds the session, node 1 needs only the corpus."""
    corpus = small_text(tmp_path)
    port = 29400 + os.getpid() % 500
    runs = []
    for node in (1, 0):
        folder = tmp_path / f"machine{node}"
        folder.mkdir()
        line = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node),
                "--rdzv-endpoint", f"127.0.0.1:{port}", "--nproc-per-node", "1", "-m", "workbench", "train",
                "--corpus", str(corpus), "--session", "multi", *GROUP, "--steps", "20", "--headless",
                "--sessions-dir", str(folder / "sessions")]
        runs.append(subprocess.Popen(line, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=TIMEOUT) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert not (tmp_path / "machine1" / "sessions").exists()
    session = Session(tmp_path / "machine0" / "sessions" / "multi")
    status = session.read_status()
    assert status["state"] == "finished" and status["step"] == 20 and status["shape"] == "2 x cpu, gloo"


class _Failure:
    """What torchrun reports of a process that failed: its pid, exit code and a timestamp."""

    def __init__(self, pid, exitcode, timestamp, message=""):
        self.pid, self.exitcode, self.timestamp, self.message = pid, exitcode, timestamp, message


def test_the_post_mortem_names_the_killed_process_even_when_rank_0_is_stamped_first(monkeypatch):
    from workbench.engine.train.distributed import peer_died
    from workbench.engine.processes.group import culprit

    # torchrun stamps rank 0 with the second of its error file, the killed rank with the
    # second it noticed: the death rank 0 saw can sort after rank 0's own failure.
    failures = {0: _Failure(100, 1, 1000), 1: _Failure(101, -signal.SIGKILL, 1001)}
    closed = RuntimeError("[../gloo/transport/tcp/pair.cc:598] Connection closed by peer [127.0.0.1]:4242")
    assert peer_died(closed) and not peer_died(RuntimeError("Timed out waiting 30000ms for recv operation"))
    status = {"state": "failed", "lost_peer": True, "peer_died": True, "rank_pids": [100, 101]}
    assert culprit(failures, status) == "rank 1 (process 101) was killed by SIGKILL"
    # the same exits after rank 0 timed out waiting: the other hung and torchrun ended it
    monkeypatch.setenv("WORKBENCH_DIST_TIMEOUT", "30")
    hung = culprit(failures, {**status, "peer_died": False})
    assert hung == "rank 1 (process 101) stopped answering (the others waited 30 s for it, then torchrun ended it)"
