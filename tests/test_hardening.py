"""A hostile working folder, a hostile socket peer, links planted in a session: the trainer
must neither run foreign code, nor be locked out of its own controls, nor write or delete
outside its session."""
import json
import os
import signal
import socket
import subprocess

import pytest

from workbench.engine.control import client as control
from workbench.engine.control import server as control_server
from workbench.engine.train.budget import set_budget
from workbench.engine.control.client import send_command, socket_path
from workbench.engine.control.server import ControlServer
from workbench.engine.processes.launcher import child_environment, python_command, start_trainer
from workbench.engine.sessions.lock import SessionLock
from workbench.engine.sessions.session import Session, read_jsonl

from support import wait_until, make_session, run_cli, run_trainer, small_text


def _wait(predicate, what, timeout=60.0):
    return wait_until(predicate, what, timeout)


def _trained_session(tmp_path, steps=10):
    session = make_session(tmp_path / "sessions", small_text(tmp_path), threads=1)
    final, _ = run_trainer(session, steps=steps)
    assert final.kind == "finished"
    return session


def _finished_at(session, step):
    status = session.read_status()
    return status.get("state") == "finished" and status.get("step") == step and session.lock_holder() is None


# -- 1. a background trainer imports nothing from the caller's folder --------------------------
def test_a_detached_trainer_never_imports_from_the_current_folder(tmp_path):
    session = _trained_session(tmp_path)
    hostile = tmp_path / "hostile"
    (hostile / "relative").mkdir(parents=True)
    marker = tmp_path / "ran-hostile-code"
    payload = f"open({str(marker)!r}, 'w').write('pwned')\nraise SystemExit('hostile code ran')\n"
    (hostile / "numpy.py").write_text(payload)
    (hostile / "relative" / "torch.py").write_text(payload)
    # An empty PYTHONPATH entry and a relative one both mean "this folder"; an absolute one stays.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["", "relative", str(tmp_path / "absolute")])}
    command = python_command("workbench.cli:main",
                             ["resume", "s", "--detach", "--steps", "20", "--sessions-dir", str(tmp_path / "sessions")])
    r = subprocess.run(command, cwd=hostile, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    _wait(lambda: _finished_at(session, 20), "the detached trainer to finish")
    assert not marker.exists()
    assert "hostile code ran" not in session.log_path.read_text()


def test_the_apps_trainer_starts_from_a_folder_holding_a_workbench_package(tmp_path, monkeypatch):
    # The parent of a clone holds a workbench/ folder: it must not shadow the installed package.
    session = _trained_session(tmp_path)
    fake = tmp_path / "parent" / "workbench"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise SystemExit('the wrong workbench was imported')\n")
    monkeypatch.chdir(fake.parent)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    set_budget(session, 20, None, None)  # what the training screen calls
    start_trainer(session, tmp_path / "sessions")
    _wait(lambda: _finished_at(session, 20), "the trainer the app started to finish")
    assert "wrong workbench" not in session.log_path.read_text()


def test_child_environment_keeps_only_absolute_pythonpath_entries(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["", "rel", "/abs/one", ".", "/abs/two", ""]))
    assert child_environment()["PYTHONPATH"] == os.pathsep.join(["/abs/one", "/abs/two"])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["", "."]))
    assert "PYTHONPATH" not in child_environment()
    assert child_environment()["PYTHONUNBUFFERED"] == "1"


# -- 2. holding control connections locks nobody out -----------------------------------------
class _FakeTrainer:
    state, step = "running", 7

    def __init__(self):
        self.sent = []

    def send(self, command):
        self.sent.append(command)


@pytest.fixture
def served(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path))
    lock = SessionLock(session.lock_path, session.name)
    lock.acquire()
    trainer = _FakeTrainer()
    try:
        with ControlServer(session, trainer):
            yield session, trainer
    finally:
        lock.release()


def _connect(session):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(socket_path(session)))  # blocking: waits for room in the backlog
    sock.settimeout(20)
    return sock


def test_idle_connections_give_way_to_a_command(served):
    session, trainer = served
    held = [_connect(session) for _ in range(control_server.MAX_CONNECTIONS + 8)]
    try:
        reply = send_command(session, {"kind": "pause"}, timeout=10)
        assert reply["ok"] is True, reply
        assert [c.kind for c in trainer.sent] == ["pause"]
        # The connections that waited longest were closed, each told why.
        first = held[0].makefile("rb").readline()
        assert b"closed: idle while" in first, first
    finally:
        for sock in held:
            sock.close()


def test_a_connection_that_sends_nothing_is_closed_after_the_deadline(served, monkeypatch):
    session, _ = served
    monkeypatch.setattr(control_server, "REQUEST_SECONDS", 0.5)
    sock = _connect(session)
    with sock:
        sock.sendall(b'{"kind": "pi')  # half a request, then silence
        reply = sock.makefile("rb").readline()
        assert json.loads(reply) == {"ok": False, "error": "no complete request within 0.5 s; closing"}
        assert sock.recv(1) == b""  # and closed


def test_the_client_reports_the_trainers_reason_not_a_broken_pipe(served):
    session, trainer = served
    reply = send_command(session, {"kind": "set_sample", "prime": "x" * (4 * control.MAX_REQUEST)}, timeout=10)
    assert reply == {"ok": False, "error": f"request longer than {control.MAX_REQUEST} bytes"}
    assert trainer.sent == []


def test_a_peer_of_another_user_is_not_served(served, monkeypatch):
    session, trainer = served
    if not hasattr(socket, "SO_PEERCRED"):
        pytest.skip("this platform cannot tell a socket peer's user")
    monkeypatch.setattr(control_server, "_served_uids", lambda: {os.getuid() + 4242})  # we, the peer, look foreign
    with pytest.raises(Exception, match="closed the connection without an answer"):
        send_command(session, {"kind": "pause"}, timeout=5)
    assert trainer.sent == []


# -- 3. links inside a session are never followed --------------------------------------------
def test_a_linked_log_is_refused_and_its_target_untouched(tmp_path):
    session = _trained_session(tmp_path)
    target = tmp_path / "bashrc"
    target.write_text("precious\n")
    session.metrics_path.unlink()
    session.metrics_path.symlink_to(target)
    r = run_cli("resume", "s", "--steps", "20", "--headless", "--sessions-dir", str(tmp_path / "sessions"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "metrics.jsonl is a symbolic link" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert target.read_text() == "precious\n"
    [row] = json.loads(run_cli("sessions", "--json", "--sessions-dir", str(tmp_path / "sessions")).stdout)
    assert row["state"] == "broken" and "metrics.jsonl is a symbolic link" in row["error"]


def test_a_linked_checkpoints_folder_is_refused_and_nothing_deleted_there(tmp_path):
    session = _trained_session(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".keep.tmp").write_text("mine")
    (elsewhere / "step-00000001.pt").write_text("mine too")
    for path in session.checkpoints_dir.iterdir():
        path.rename(elsewhere / path.name)
    session.checkpoints_dir.rmdir()
    session.checkpoints_dir.symlink_to(elsewhere)
    r = run_cli("resume", "s", "--steps", "20", "--headless", "--sessions-dir", str(tmp_path / "sessions"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "checkpoints is a symbolic link" in r.stderr and "Traceback" not in r.stderr
    assert (elsewhere / ".keep.tmp").read_text() == "mine"
    assert (elsewhere / "step-00000001.pt").read_text() == "mine too"


def test_a_linked_lock_or_log_never_truncates_its_target(tmp_path):
    session = _trained_session(tmp_path)
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n")
    session.lock_path.unlink()
    session.lock_path.symlink_to(target)
    r = run_cli("resume", "s", "--steps", "20", "--headless", "--sessions-dir", str(tmp_path / "sessions"))
    assert r.returncode == 2 and "lock is a symbolic link" in r.stderr, (r.stdout, r.stderr)
    assert target.read_text() == "keep me\n"

    session.lock_path.unlink()
    session.log_path.symlink_to(target)
    r = run_cli("resume", "s", "--steps", "20", "--detach", "--sessions-dir", str(tmp_path / "sessions"))
    assert r.returncode == 2 and "trainer.log is a symbolic link" in r.stderr, (r.stdout, r.stderr)
    assert target.read_text() == "keep me\n"


def test_a_fifo_in_a_session_is_never_waited_on(tmp_path):
    session = _trained_session(tmp_path)
    session.status_path.unlink()
    os.mkfifo(session.status_path)
    r = run_cli("sessions", "--json", "--sessions-dir", str(tmp_path / "sessions"), timeout=30)
    assert r.returncode == 0, r.stderr
    [row] = json.loads(r.stdout)
    assert row["state"] == "broken" and "status.json is not a regular file" in row["error"]
    r = run_cli("attach", "s", "--headless", "--sessions-dir", str(tmp_path / "sessions"), timeout=30)
    assert "Traceback" not in r.stderr
    assert Session(session.root).read_status()["state"] == "stopped"  # read as damaged, rebuilt from the history


# -- 4-6. commands a trainer accepted but could not carry out ----------------------------------
def _background(tmp_path, name, *extra):
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", name, "--hidden", "32", "--layers", "1",
                "--batch-size", "8", "--seq-length", "20", "--log-every", "1", "--eval-every", "0",
                "--checkpoint-every", "0", "--steps", "1000000", "--threads", "1", "--device", "cpu", *extra,
                "--detach", "--sessions-dir", str(tmp_path / "sessions"), timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return Session(tmp_path / "sessions" / name)


def test_the_socket_refuses_what_the_trainer_would_refuse_and_says_why(tmp_path):
    session = _background(tmp_path, "cmd")
    try:
        for bad, needle in [({"kind": "set_lr", "lr": 1e308}, "the learning rate must be a positive number of at most 1"),
                            ({"kind": "set_lr", "lr": -1}, "the learning rate must be a positive number"),
                            ({"kind": "set_lr", "lr": float("nan")}, "the learning rate must be a positive number"),
                            ({"kind": "set_lr", "lr": float("inf")}, "the learning rate must be a positive number"),
                            ({"kind": "set_sample", "top_k": -5}, "top-k must be 0 (off) or positive"),
                            ({"kind": "set_sample", "length": 10**9}, "the sample length must be from 1 to 50,000"),
                            ({"kind": "set_sample", "prime": "\u2603"}, "not in the corpus vocabulary"),
                            ({"kind": "stop", "reason": "bye\ud800"}, "'reason' is not valid Unicode")]:
            reply = send_command(session, bad, timeout=20)
            assert reply["ok"] is False and needle in reply["error"], (bad, reply)
        assert send_command(session, {"kind": "set_lr", "lr": 0.002}, timeout=20)["ok"] is True
        assert session.live_status()["state"] == "running"
    finally:
        run_cli("stop", "cmd", "--sessions-dir", str(tmp_path / "sessions"), timeout=120)
    assert session.read_status()["state"] == "stopped"
    warnings = [e for e in read_jsonl(session.events_path) if e["kind"] == "warning"]
    assert warnings == []  # nothing was accepted only to be ignored later


def test_any_string_is_safe_to_store(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path))
    session.write_status(reason="bye\ud800", state="stopped")
    assert json.loads(session.status_path.read_text(encoding="utf-8"))["reason"] == "bye\ud800"
    assert Session(session.root).read_status()["reason"] == "bye\ud800"


def test_an_endless_sample_is_refused_and_a_long_one_gives_way_to_a_pause(tmp_path):
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", "huge", "--sample-length", "1000000000",
                "--headless", "--sessions-dir", str(tmp_path / "sessions"))
    assert r.returncode == 2 and "the sample length must be from 1 to 50,000" in r.stderr, r.stderr
    session = _background(tmp_path, "long", "--hidden", "256", "--sample-every", "5", "--sample-length", "50000")
    try:
        wait_until(lambda: session.read_status().get("step", 0) >= 5, "the first sample to begin", 120)
        reply = send_command(session, {"kind": "pause"}, timeout=20)
        assert reply["ok"], reply
        # 50,000 characters take seconds at 256x2 here (about 4 s at 14k chars/s); the pause must not wait for them.
        wait_until(lambda: session.read_status().get("state") == "paused", "the pause", 120)
        samples = read_jsonl(session.samples_path)
        assert samples and samples[-1].get("interrupted") is True and len(samples[-1]["text"]) < 50_000
    finally:
        run_cli("stop", "long", "--sessions-dir", str(tmp_path / "sessions"), timeout=120)


# -- 14. two starts at once ----------------------------------------------------------------------
def test_two_detached_resumes_at_once_the_loser_says_who_trains_it(tmp_path):
    session = _trained_session(tmp_path)
    command = [*python_command("workbench.cli:main", ["resume", "s", "--detach", "--steps", "1000000",
                                                       "--sessions-dir", str(tmp_path / "sessions")])]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
        codes = sorted(code for code, _, _ in results)
        assert codes[0] == 0 and codes[1] != 0, results
        loser = next(err for code, _, err in results if code != 0)
        holder = session.lock_holder()
        assert f"already being trained by process {holder['pid']}" in loser, loser
        assert "step " not in loser and loser.count("\n") == 1, loser  # not the winner's progress line
    finally:
        run_cli("stop", "s", "--sessions-dir", str(tmp_path / "sessions"), timeout=120)


# -- 15. a trainer stopped by a signal -------------------------------------------------------------
def test_a_stopped_trainer_is_said_to_be_stopped_and_the_command_waits(tmp_path):
    session = _background(tmp_path, "frozen")
    pid = session.read_status()["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        r = run_cli("pause", "frozen", "--sessions-dir", str(tmp_path / "sessions"), timeout=120)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert f"is stopped and does not respond: `kill -CONT {pid}`" in r.stderr, r.stderr
        assert "the pause waits in its queue" in r.stderr
        assert session.live_status().get("suspended") is True
        row = json.loads(run_cli("sessions", "--json", "--sessions-dir", str(tmp_path / "sessions")).stdout)[0]
        assert row["suspended"] is True and row["state"] == "running"
        ps = run_cli("ps", "--sessions-dir", str(tmp_path / "sessions"))
        assert f"stopped (kill -CONT {pid})" in ps.stdout, ps.stdout
        ps_row = json.loads(run_cli("ps", "--json", "--sessions-dir", str(tmp_path / "sessions")).stdout)[0]
        assert ps_row["suspended"] is True
    finally:
        os.kill(pid, signal.SIGCONT)
    _wait(lambda: session.read_status().get("state") == "paused", "the queued pause to be carried out", 120)
    assert not session.live_status().get("suspended")
    run_cli("stop", "frozen", "--sessions-dir", str(tmp_path / "sessions"), timeout=120)
