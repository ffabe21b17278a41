"""The command line end to end, as a user runs it (subprocesses, small data)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from workbench.engine.sessions.session import read_jsonl

from support import REPO, TINY, run_cli, small_text


@pytest.fixture
def env(tmp_path):
    return {"WORKBENCH_SESSIONS": str(tmp_path / "sessions")}


def test_train_sessions_sample_resume_end_to_end(tmp_path, env):
    text = small_text(tmp_path)
    r = run_cli("train", "--corpus", str(text), "--session", "e2e", *TINY, "--steps", "30",
                "--checkpoint-every", "15", "--sample-every", "15", "--sample-length", "40", env=env)
    assert r.returncode == 0, r.stderr
    assert "step 30/30" in r.stdout and "--- sample at step 15 ---" in r.stdout
    assert "finished at step 30 (budget)" in r.stdout
    assert "CRLF" not in r.stderr and "small: 20,000 chars" in r.stderr

    r = run_cli("sessions", "--json", env=env)
    [row] = json.loads(r.stdout)
    for key in ("name", "corpus", "cell", "hidden", "layers", "params", "steps", "epoch", "best_val_loss", "state", "updated"):
        assert key in row, key
    assert row["name"] == "e2e" and row["steps"] == 30 and row["state"] == "finished" and row["params"] > 0
    assert row["precision"] == "auto" and row["device"].endswith(" fp32")  # 32 units: auto stays fp32
    table = run_cli("sessions", env=env).stdout
    assert "e2e" in table and "finished" in table

    a = run_cli("sample", "e2e", "--prime", "Th", "--length", "50", "--seed", "5", env=env)
    b = run_cli("sample", "e2e", "--prime", "Th", "--length", "50", "--seed", "5", "--checkpoint", "15", env=env)
    again = run_cli("sample", "e2e", "--prime", "Th", "--length", "50", "--seed", "5", env=env)
    assert a.returncode == 0 and a.stdout.startswith("Th") and len(a.stdout.rstrip("\n")) >= 50
    assert a.stdout == again.stdout and b.returncode == 0
    j = json.loads(run_cli("sample", "e2e", "--num", "3", "--length", "20", "--json", "--seed", "1", env=env).stdout)
    assert len(j["samples"]) == 3 and j["step"] == 30

    r = run_cli("resume", "e2e", "--steps", "40", "--headless", env=env)
    assert r.returncode == 0, r.stderr
    assert "resuming at step 30" in r.stdout and "finished at step 40" in r.stdout
    steps = [m["step"] for m in read_jsonl(tmp_path / "sessions" / "e2e" / "metrics.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == 40

    r = run_cli("resume", "e2e", "--steps", "40", "--headless", env=env)
    assert r.returncode == 2 and "already meets its target" in r.stderr


def test_resume_refuses_a_session_whose_epoch_target_is_met_as_the_app_does(tmp_path):
    """One rule for "the budget is spent" (the CLI once checked steps only, the app steps and epochs)."""
    env = {"WORKBENCH_SESSIONS": str(tmp_path / "sessions")}
    corpus = small_text(tmp_path)
    r = run_cli("train", "--corpus", str(corpus), "--session", "ep", *TINY, "--epochs", "0.1", env=env)
    assert r.returncode == 0 and "finished at step 12 (budget)" in r.stdout, (r.stdout, r.stderr)
    r = run_cli("resume", "ep", "--headless", env=env)
    assert r.returncode == 2 and "already meets its target of 0.1 epochs" in r.stderr, (r.stdout, r.stderr)
    from workbench.engine.train.budget import spent
    from workbench.engine.sessions.session import Session

    session = Session(tmp_path / "sessions" / "ep")
    assert spent(session.read_config(), session.live_status()) == "its target of 0.1 epochs"  # what the app asks
    r = run_cli("resume", "ep", "--headless", "--epochs", "0.2", env=env)
    assert r.returncode == 0 and "finished at step 23 (budget)" in r.stdout, (r.stdout, r.stderr)


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error:"), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, env):
    text = small_text(tmp_path)
    sessions = tmp_path / "sessions"
    cases = [
        (["train", "--corpus", str(tmp_path / "nope.txt"), "--headless"], "nope.txt"),
        (["train", "--corpus", str(text), "--lr", "-1", "--headless"], "--lr"),
        (["train", "--corpus", str(text), "--cell", "transformer", "--headless"], "cell"),
        (["train", "--corpus", str(text), "--hidden", "abc", "--headless"], "hidden"),
        (["train", "--corpus", str(text), "--batch-size", "4096", "--headless"], "batch"),
        (["train", "--corpus", str(text), "--schedule", "cosine", "--headless"], "--steps"),
        (["train", "--corpus", str(text), "--prime", "\u00e9\u00e9", "--headless", *TINY[:-1]], "\u00e9"),
        (["train", "--corpus", str(text), "--session", "../escape", "--headless", *TINY[:-1]], "session name"),
        (["train", "--corpus", str(text), "--device", "cuda", "--headless", *TINY[:-1], "--steps", "1"], "CUDA"),
        (["resume", "ghost", "--headless"], "no session named 'ghost'"),
        (["sample", "ghost"], "no session named 'ghost'"),
        (["frobnicate"], "invalid choice"),
    ]
    for args, needle in cases:
        line = _one_line_error(run_cli(*args, env=env))
        assert needle in line, (args, line)
    assert not sessions.exists() or not list(sessions.iterdir())


def test_train_without_headless_outside_a_terminal_asks_for_headless(tmp_path, env):
    line = _one_line_error(run_cli("train", "--corpus", str(small_text(tmp_path)), env=env))
    assert "--headless" in line


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_saves_a_checkpoint_and_exits_cleanly(tmp_path, env, sig):
    text = small_text(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "train", "--corpus", str(text), "--session", "sig",
                             *TINY, "--log-every", "1"], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("step 3"):
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"signal {sig.name}" in out and "stopped at step" in out
    status = json.loads((tmp_path / "sessions" / "sig" / "status.json").read_text())
    assert status["state"] == "stopped" and status["checkpoint_step"] == status["step"] >= 3
    assert (tmp_path / "sessions" / "sig" / "checkpoints" / "latest.pt").exists()


def _wait_for_step(metrics, step, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = read_jsonl(metrics)
        if rows and rows[-1]["step"] >= step:
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError(f"step {step} not reached")


def test_kill_9_then_resume_keeps_a_clean_history(tmp_path, env):
    text = small_text(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "train", "--corpus", str(text), "--session", "k",
                             *TINY, "--log-every", "1", "--checkpoint-every", "10"], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    session = tmp_path / "sessions" / "k"
    _wait_for_step(session / "metrics.jsonl", 13, proc)
    deadline = time.time() + 60
    while read_jsonl(session / "metrics.jsonl")[-1]["step"] % 10 not in (3, 4, 5, 6) and time.time() < deadline:
        time.sleep(0.005)  # kill between two checkpoints, with steps logged past the last one
    proc.kill()
    proc.wait()
    logged = read_jsonl(session / "metrics.jsonl")[-1]["step"]
    checkpoint = json.loads((session / "status.json").read_text())["checkpoint_step"]
    assert logged > checkpoint >= 10
    listed = json.loads(run_cli("sessions", "--json", env=env).stdout)[0]
    assert listed["state"] == "failed" and "killed or crashed" in listed["error"]
    r = run_cli("resume", "k", "--steps", str(logged + 20), "--headless", env=env)
    assert r.returncode == 0, r.stderr
    assert f"resuming at step {checkpoint}" in r.stdout
    steps = [m["step"] for m in read_jsonl(session / "metrics.jsonl")]
    assert steps == list(range(1, logged + 21))  # nothing duplicated, nothing out of order


def test_a_second_trainer_is_refused_naming_the_holder_and_a_dead_holder_is_taken_over(tmp_path, env):
    text = small_text(tmp_path)
    assert run_cli("train", "--corpus", str(text), "--session", "L", *TINY, "--steps", "5", env=env).returncode == 0
    holder = subprocess.Popen([sys.executable, "-m", "workbench", "resume", "L", "--steps", "100000", "--headless"],
                              env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in holder.stdout:
            if line.startswith("step"):
                break
        r = run_cli("resume", "L", "--steps", "100000", "--headless", env=env)
        line = _one_line_error(r)
        assert f"process {holder.pid}" in line
        listed = json.loads(run_cli("sessions", "--json", env=env).stdout)[0]
        assert listed["state"] == "running" and listed["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    r = run_cli("resume", "L", "--steps", "8", "--headless", env=env)
    assert r.returncode == 0, r.stderr  # the dead holder's lock is taken over


def test_help_and_sessions_do_not_import_torch(tmp_path):
    code = ("import sys; from workbench.cli import main; "
            "main(['sessions', '--sessions-dir', sys.argv[1]]); "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-c", "import sys; from workbench.cli import build_parser; build_parser(); "
                        "assert 'torch' not in sys.modules"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
