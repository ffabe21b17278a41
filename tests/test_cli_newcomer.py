"""The command line for a newcomer: a unique start of a session's name is enough; messages say
where the sessions folder is and what is wrong with the file given; every --help has examples;
`ps` and `attach --headless` say when a trainer has gone quiet; a headless run ends naming its
session and what comes next."""
from __future__ import annotations

import json
import time

import pytest

from support import make_session, run_cli, small_text
from workbench.cli.control import StallNotice, state_text, trainer_rows
from workbench.cli.output import closing_lines
from workbench.engine.errors import WorkbenchError
from workbench.engine.files import write_json_atomic
from workbench.engine.sessions.lock import SessionLock
from workbench.engine.train.presets import BY_KEY
from workbench.engine.sessions.session import Session

COMMANDS = ["train", "resume", "sample", "sessions", "open", "attach", "studio", "ps", "pause", "stop", "probe",
            "score", "bench", "export", "serve"]


def one_line_error(r) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error:") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.fixture
def two(tmp_path):
    sessions = tmp_path / "sessions"
    corpus = small_text(tmp_path)
    for name in ("anna-lstm-1", "anna-gru-2", "anna"):
        make_session(sessions, corpus, name=name)
    return sessions


def test_a_unique_start_of_a_name_opens_the_session(two):
    assert Session.open(two, "anna-l").name == "anna-lstm-1"
    assert Session.open(two, "anna").name == "anna"  # an exact name wins over the names it starts
    with pytest.raises(WorkbenchError, match="starts 2 session names") as found:
        Session.open(two, "anna-")
    assert "anna-lstm-1" in str(found.value) and "anna-gru-2" in str(found.value)
    with pytest.raises(WorkbenchError, match="no session named 'zzz' in /"):
        Session.open(two, "zzz")
    with pytest.raises(WorkbenchError, match="invalid session name"):
        Session.open(two, "../x")


def test_the_commands_take_a_unique_start_too(two):
    r = run_cli("attach", "anna-g", "--headless", "--sessions-dir", str(two))
    assert r.returncode == 0 and "no trainer is running for session anna-gru-2" in r.stdout, r.stderr
    error = one_line_error(run_cli("attach", "anna-", "--headless", "--sessions-dir", str(two)))
    assert "anna-lstm-1" in error and "anna-gru-2" in error


def test_score_names_a_missing_file_and_sessions_names_its_folder(two, tmp_path):
    error = one_line_error(run_cli("score", "anna-l", "missing.txt", "--sessions-dir", str(two)))
    assert "missing.txt does not exist; give the path of a text file to score" in error and "corpus" not in error
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = run_cli("sessions", cwd=elsewhere, env={"WORKBENCH_SESSIONS": ""})
    assert r.returncode == 0 and f"no sessions in {elsewhere / 'sessions'}" in r.stdout
    assert "--corpus anna" not in r.stdout and "workbench train --corpus" in r.stdout


def test_every_help_has_examples_and_resume_says_it_unpauses():
    for command in COMMANDS:
        r = run_cli(command, "--help")
        assert r.returncode == 0 and "examples:\n  workbench " + command in r.stdout, command
    assert "unpause" in run_cli("resume", "--help").stdout


def test_ps_and_attach_say_when_a_trainer_has_gone_quiet(tmp_path):
    sessions = tmp_path / "sessions"
    session = make_session(sessions, small_text(tmp_path), name="quiet")
    with SessionLock(session.lock_path, session.name):
        import os

        status = {**session.read_status(), "state": "running", "pid": os.getpid(), "step": 120,
                  "report_seconds": 2.0, "updated": time.time()}
        write_json_atomic(session.status_path, status)
        [row], _ = trainer_rows(sessions, False)
        assert row["stalled_seconds"] is None and state_text(row) == "running"
        write_json_atomic(session.status_path, {**status, "updated": time.time() - 45})
        [row], _ = trainer_rows(sessions, False)
        assert row["stalled_seconds"] >= 45 and state_text(row).startswith("running (no step for 4")
        r = run_cli("ps", "--json", "--sessions-dir", str(sessions))
        assert json.loads(r.stdout)[0]["stalled_seconds"] >= 45
        assert "no step for" in run_cli("ps", "--sessions-dir", str(sessions)).stdout

    notice, now = StallNotice(), 10_000.0
    running = {"state": "running", "step": 120, "report_seconds": 2.0, "updated": now - 5}
    assert notice.check(running, now) is None
    line = notice.check({**running, "updated": now - 45}, now)
    assert line.startswith("no step for 45 s at step 120") and "every 2.0 s" in line
    assert notice.check({**running, "updated": now - 45}, now + 1) is None  # said once
    again = notice.check({**running, "step": 130, "updated": now + 2}, now + 2)
    assert again.startswith("steps again at step 130")


def test_a_headless_run_ends_naming_the_session_and_what_comes_next(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path), name="done")
    write_json_atomic(session.status_path, {**session.read_status(), "state": "finished", "step": 30})
    config = session.read_config()
    config.max_steps = 30
    session.write_config(config)
    lines = closing_lines(session)
    assert lines[0].startswith("session done (") and "finished at step 30" in lines[0]
    assert any("workbench resume done --steps 60" in line for line in lines)  # its budget is spent
    assert any("workbench open done" in line for line in lines)


def test_a_headless_train_prints_its_closing_lines(tmp_path):
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", "end", "--headless", "--steps", "2",
                "--hidden", "16", "--layers", "1", "--batch-size", "4", "--seq-length", "10", "--threads", "1",
                "--sessions-dir", str(tmp_path / "sessions"))
    assert r.returncode == 0, r.stderr
    tail = r.stderr.splitlines()[-4:]
    assert tail[0].startswith("session end (") and "finished at step 2" in tail[0], tail
    assert "workbench sample end" in tail[1] and "workbench resume end --steps 4" in tail[2], tail


def config_of(*argv: str):
    from workbench.cli.parser import build_parser
    from workbench.cli.train import config_from_args

    return config_from_args(build_parser().parse_args(["train", "--corpus", "anna", *argv]))


def test_the_tuned_preset_sets_its_schedule_and_length_and_a_budget_given_wins():
    tuned = BY_KEY["tuned"]
    config = config_of("--preset", "tuned")
    assert all(getattr(config, k) == v for k, v in tuned.values.items())
    assert config.schedule == "cosine" and config.max_epochs == tuned.epochs  # the length it was tuned for
    assert config_of("--preset", "tuned", "--steps", "50").max_epochs is None  # a budget given: only that
    assert config_of("--preset", "tuned", "--epochs", "5").max_epochs == 5
    assert config_of("--preset", "tuned", "--schedule", "constant", "--clip", "1").schedule == "constant"
    notebook = config_of("--steps", "5")  # no preset: the notebook's, as always
    assert (notebook.schedule, notebook.warmup_steps, notebook.clip, notebook.optimizer) == ("constant", 0, 5.0, "adam")


def test_a_preset_sets_the_model_and_the_flags_given_still_win(tmp_path):
    sessions = tmp_path / "sessions"
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", "p", "--preset", "cpu-budget",
                "--hidden", "16", "--seq-length", "10", "--steps", "1", "--headless", "--sessions-dir", str(sessions))
    assert r.returncode == 0, r.stderr
    config = Session(sessions / "p").read_config()
    assert (config.hidden, config.seq_length) == (16, 10)  # given
    assert (config.layers, config.dropout, config.batch_size, config.lr) == (2, 0.0, 32, 0.005)  # the preset's
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--session", "n", "--hidden", "16", "--layers", "1",
                "--batch-size", "4", "--seq-length", "10", "--steps", "1", "--headless", "--sessions-dir", str(sessions))
    assert r.returncode == 0, r.stderr
    config = Session(sessions / "n").read_config()
    assert (config.dropout, config.lr, config.cell) == (0.5, 0.001, "lstm")  # no preset: the notebook's
    r = run_cli("train", "--corpus", str(small_text(tmp_path)), "--preset", "huge", "--sessions-dir", str(sessions))
    assert r.returncode == 2 and "invalid choice: 'huge'" in r.stderr
