"""Training that survives the terminal: detached trainers, the control socket, followers
(subprocesses and tiny models, as a user runs them)."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from workbench.engine.control.client import send_command, socket_path
from workbench.engine.control.server import ControlServer
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.follow import SessionFollower
from workbench.engine.sessions.session import parse_lines
from workbench.engine.sessions.lock import SessionLock
from workbench.engine.sessions.session import Session, read_jsonl

from support import process_gone, wait_until, TINY, make_session, run_cli, small_text, run_trainer

BACKGROUND = [*TINY, "--threads", "1", "--checkpoint-every", "0"]


@pytest.fixture
def env(tmp_path):
    return {"WORKBENCH_SESSIONS": str(tmp_path / "sessions")}


def _wait(predicate, what, timeout=20.0):
    return wait_until(predicate, what, timeout)




def _status(session):
    return session.read_status()


def _detach(tmp_path, env, name, *extra):
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", name, *BACKGROUND, *extra, "--detach",
                env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"training {name} in the background (pid " in r.stdout, r.stdout
    pid = int(r.stdout.split("(pid ", 1)[1].split(")", 1)[0])
    return Session(tmp_path / "sessions" / name), pid


def test_detach_pause_resume_attach_stop(tmp_path, env):
    session, pid = _detach(tmp_path, env, "bg")
    # The process that spawned it has exited; the trainer goes on.
    first = _status(session)["step"]
    _wait(lambda: _status(session)["step"] > first + 5, "steps to advance after the spawner exited")
    assert oct(os.stat(socket_path(session)).st_mode & 0o777) == "0o600"

    [row] = json.loads(run_cli("ps", "--json", env=env).stdout)
    assert row["session"] == "bg" and row["pid"] == pid and row["state"] == "running" and row["step"] > 0

    r = run_cli("pause", "bg", env=env)
    assert r.returncode == 0 and "paused at step" in r.stdout, (r.stdout, r.stderr)
    assert _status(session)["state"] == "paused"
    step = _status(session)["step"]
    metrics = len(read_jsonl(session.metrics_path))
    time.sleep(1.0)
    assert _status(session)["step"] == step and len(read_jsonl(session.metrics_path)) == metrics

    r = run_cli("resume", "bg", env=env)  # a live trainer: unpause it, no --headless needed
    assert r.returncode == 0 and "is running at step" in r.stdout, (r.stdout, r.stderr)
    _wait(lambda: _status(session)["step"] > step + 5, "steps to advance after resume")

    viewer = subprocess.Popen([sys.executable, "-m", "workbench", "attach", "bg"], env={**os.environ, **env},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in viewer.stdout:
            seen.append(line)
            if line.startswith("step "):
                break
        assert any("press Ctrl-C to detach (training continues)" in s for s in seen), seen
        assert seen[0].startswith("session bg: running at step")
        viewer.send_signal(signal.SIGINT)
        out, err = viewer.communicate(timeout=20)
    finally:
        viewer.kill()
    assert viewer.returncode == 0 and "detached; training continues" in out, (out, err)
    assert not process_gone(pid) and _status(session)["state"] == "running"

    r = run_cli("stop", "bg", env=env)
    assert r.returncode == 0, r.stderr
    status = _status(session)
    assert status["state"] == "stopped" and status["checkpoint_step"] == status["step"] > step
    assert f"stopped at step {status['step']}" in r.stdout
    from workbench.engine.sessions.checkpoint import load_checkpoint

    assert load_checkpoint(session.checkpoint_path("latest"))["step"] == status["step"]
    _wait(lambda: process_gone(pid), "the trainer process to exit", timeout=10)
    assert not socket_path(session).exists()
    assert json.loads(run_cli("ps", "--json", env=env).stdout) == []

    r = run_cli("pause", "bg", env=env)
    assert r.returncode == 2 and "no trainer is running for session 'bg' (state: stopped)" in r.stderr


def test_a_killed_trainer_shows_as_failed_and_resumes(tmp_path, env):
    session, pid = _detach(tmp_path, env, "k", "--checkpoint-every", "10")
    _wait(lambda: (_status(session).get("checkpoint_step") or 0) >= 20, "two checkpoints")
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: process_gone(pid), "the killed trainer to go", timeout=10)

    assert json.loads(run_cli("ps", "--json", env=env).stdout) == []
    [row] = json.loads(run_cli("ps", "--all", "--json", env=env).stdout)
    assert row["session"] == "k" and row["state"] == "failed" and "killed or crashed" in row["error"]
    table = run_cli("ps", "--all", env=env).stdout
    assert "failed" in table and "killed or crashed" in table
    [listed] = json.loads(run_cli("sessions", "--json", env=env).stdout)
    assert listed["state"] == "failed" and listed["error"]

    r = run_cli("stop", "k", env=env)
    assert r.returncode == 2 and "no trainer is running for session 'k' (state: failed)" in r.stderr

    # The newest checkpoint on disk (status.json may lag it by one: a kill can fall between the
    # checkpoint's rename and the status write that names it).
    from workbench.engine.sessions.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(session.checkpoint_path("latest"))["step"]
    assert checkpoint >= _status(session)["checkpoint_step"] >= 20
    r = run_cli("resume", "k", "--headless", "--steps", str(checkpoint + 10), env=env)
    assert r.returncode == 0, r.stderr
    assert f"resuming at step {checkpoint}" in r.stdout and f"finished at step {checkpoint + 10}" in r.stdout
    steps = [m["step"] for m in read_jsonl(session.metrics_path)]
    assert steps == sorted(set(steps)) and steps[-1] == checkpoint + 10


def test_attach_follows_until_the_trainer_finishes(tmp_path, env):
    session, pid = _detach(tmp_path, env, "f", "--steps", "300")
    r = run_cli("attach", "f", env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "finished at step 300 (budget)" in r.stdout, r.stdout
    lines = [line for line in r.stdout.splitlines() if line.startswith("step ")]
    steps = [int(line.split()[1].split("/")[0]) for line in lines]
    assert steps == sorted(set(steps)) and steps[-1] == 300  # nothing twice, nothing out of order


def test_two_followers_see_the_same_records_while_it_trains(tmp_path):
    from workbench.engine.config import SampleSettings

    session = make_session(tmp_path / "sessions", small_text(tmp_path), log_every=1, sample_every=7,
                           checkpoint_every=15, sample=SampleSettings(length=10), threads=1)
    followers = [SessionFollower(session), SessionFollower(session)]
    seen = [{"metrics": [], "samples": [], "events": []} for _ in followers]
    done = threading.Event()
    import torch

    threads = torch.get_num_threads()  # the session sets 1 for the whole process: put it back after
    thread = threading.Thread(target=lambda: (run_trainer(session, steps=30), done.set()))
    thread.start()
    while not done.is_set() and thread.is_alive():
        for follower, got in zip(followers, seen):
            update = follower.poll()
            assert not update.reset
            for name in got:
                got[name] += getattr(update, name)
        time.sleep(0.05)
    thread.join()
    torch.set_num_threads(threads)
    for follower, got in zip(followers, seen):
        update = follower.poll()
        for name in got:
            got[name] += getattr(update, name)
    assert seen[0] == seen[1]
    assert seen[0]["metrics"] == read_jsonl(session.metrics_path) and [m["step"] for m in seen[0]["metrics"]] == list(range(1, 31))
    assert seen[0]["samples"] == read_jsonl(session.samples_path) and len(seen[0]["samples"]) == 5  # every 7 steps, and the final model's
    kinds = [e["kind"] for e in seen[0]["events"]]
    assert kinds[0] == "started" and kinds[-1] == "finished" and "checkpoint" in kinds


def test_follower_keeps_torn_lines_and_resets_when_a_log_shrinks_or_is_replaced(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path))
    follower = SessionFollower(session)
    first = follower.poll()
    assert first.metrics == [] and not first.reset and first.status["state"] == "created"
    assert not follower.poll()  # nothing changed: an empty update (and no status)

    def line(step):
        return json.dumps({"step": step, "train_loss": 1.0 / step}) + "\n"

    with open(session.metrics_path, "w") as f:
        f.write(line(1) + line(2) + line(3)[:9])  # a record half written
        f.flush()
        update = follower.poll()
        assert [m["step"] for m in update.metrics] == [1, 2] and not update.reset
        assert follower.poll().metrics == []
        f.write(line(3)[9:] + line(4))
        f.flush()
        assert [m["step"] for m in follower.poll().metrics] == [3, 4]
        f.write("{not json}\n" + line(5))  # a damaged line is skipped, the next one is read
        f.flush()
        assert [m["step"] for m in follower.poll().metrics] == [5]

    os.truncate(session.metrics_path, len(line(1)))  # shrank in place
    update = follower.poll()
    assert update.reset and [m["step"] for m in update.metrics] == [1] and update.status is not None

    tmp = session.metrics_path.with_name("new.tmp")
    tmp.write_text(line(1) + line(2) + line(3) + line(4) + line(5) + line(6))  # longer, but another file
    os.replace(tmp, session.metrics_path)
    update = follower.poll()
    assert update.reset and [m["step"] for m in update.metrics] == [1, 2, 3, 4, 5, 6]

    session.write_status(step=6)
    update = follower.poll()
    assert not update.reset and update.metrics == [] and update.status["step"] == 6
    assert follower.poll().status is None

    assert parse_lines(b"") == [] and parse_lines(line(1).encode() + b"[1]\n" + line(2).encode()) == [
        {"step": 1, "train_loss": 1.0}, {"step": 2, "train_loss": 0.5}]


class _FakeTrainer:
    state, step = "running", 12

    def __init__(self):
        self.sent = []

    def send(self, command):
        self.sent.append(command)


def test_control_socket_answers_and_survives_bad_clients(tmp_path):
    deep = tmp_path / ("d" * 110)  # too long for an AF_UNIX address: reached through /proc/self/fd
    session = make_session(deep, small_text(tmp_path), name="deep")
    with pytest.raises(WorkbenchError, match="no trainer is running for session 'deep' \\(state: created\\)"):
        send_command(session, {"kind": "ping"})
    lock = SessionLock(session.lock_path, session.name)
    lock.acquire()
    socket_path(session).write_text("stale")  # a dead trainer's socket file is replaced
    trainer = _FakeTrainer()
    try:
        with ControlServer(session, trainer):
            assert os.stat(socket_path(session)).st_mode & 0o777 == 0o600
            reply = send_command(session, {"kind": "ping"})
            assert reply == {"ok": True, "pid": os.getpid(), "session": "deep", "state": "running", "step": 12}
            assert send_command(session, {"kind": "pause"})["ok"]
            assert send_command(session, {"kind": "set_lr", "lr": 0.01})["ok"]
            for bad, needle in [({"kind": "explode"}, "unknown command 'explode'"),
                                ({"kind": "set_lr", "lr": "fast"}, "'lr' must be float"),
                                ({"kind": "set_lr"}, "needs 'lr'"),
                                ({"kind": "set_sample", "length": True}, "'length' must be int or null"),
                                ({"kind": "stop", "now": 1}, "takes no 'now'")]:
                reply = send_command(session, bad)
                assert reply["ok"] is False and needle in reply["error"], (bad, reply)
            fd = os.open(session.root, os.O_RDONLY)
            try:
                address = f"/proc/self/fd/{fd}/control.sock"
                with socket.socket(socket.AF_UNIX) as raw:
                    raw.settimeout(10)
                    raw.connect(address)
                    raw.sendall(b"not json\n[1]\n")
                    reader = raw.makefile()
                    replies = reader.readline(), reader.readline()
                    raw.sendall(b"x" * 100_000)  # no newline, ever
                    idle = socket.socket(socket.AF_UNIX)
                    idle.connect(address)  # connected and silent: must not hold up others
                    assert send_command(session, {"kind": "resume"})["ok"]
                    idle.close()
            finally:
                os.close(fd)
            assert all('"ok": false' in r for r in replies), replies
        assert not socket_path(session).exists()
    finally:
        lock.release()
    assert [c.kind for c in trainer.sent] == ["pause", "set_lr", "resume"]


def test_viewing_commands_never_import_torch(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path))
    session.metrics_path.write_text('{"step": 5, "epoch": 0.1, "train_loss": 3.5, "lr": 0.001, "grad_norm": 1.0, '
                                    '"chars_per_sec": 1000.0}\n')
    code = ("import sys; from workbench.cli import main; d = sys.argv[1]; "
            "codes = [main([c, 's', '--sessions-dir', d]) for c in ('attach', 'pause')] + "
            "[main(['ps', '--all', '--sessions-dir', d])]; "
            "assert codes == [0, 2, 0], codes; "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "sessions")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "session s: created at step 0" in r.stdout and "train loss 3.5000" in r.stdout
    assert "no trainer is running for session s (state: created)" in r.stdout
