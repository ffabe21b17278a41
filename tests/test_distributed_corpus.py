"""A group trained on a named corpus found through WORKBENCH_CORPORA, and a group whose ranks
refuse to start: the session says failed, with the ranks' own line, and the supervisor says it
once. The post-mortem reads whatever torchrun reports without crashing.

Named corpora here are small copies in a temporary folder listed in WORKBENCH_CORPORA, with
their download URLs pointed at a file that is not there: no test touches the network."""
import json
import os
import signal
import time

import pytest
from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

from workbench.engine.train.distributed import record_error
from workbench.engine.processes.group import culprit, describe_failure, last_words, post_mortem, refusal
from workbench.engine.sessions.session import Session

from support import make_session, run_cli, shared_corpus, small_text

GROUP = ["--hidden", "32", "--layers", "2", "--batch-size", "8", "--seq-length", "20", "--log-every", "5",
         "--eval-every", "10", "--checkpoint-every", "10", "--sample-every", "0", "--device", "cpu"]
TIMEOUT = 180  # a group starts three interpreters that import torch: slow on a busy 2-core machine
SOURCE = {"tinyshakespeare": "tinyshakespeare.txt", "anna": "anna_small.txt"}


def _corpora(tmp_path, name):
    """A folder holding `name`.txt (the first ~200 KB of the shared copy), and the environment
    that lists it; the corpus's URL leads nowhere, so a lookup that missed fails offline."""
    folder = tmp_path / "corpora"
    folder.mkdir(exist_ok=True)
    text = shared_corpus(SOURCE[name]).read_bytes()[:200_000]
    (folder / f"{name}.txt").write_bytes(text[: text.rfind(b"\n") + 1])
    missing = (tmp_path / "no-such-download.txt").as_uri()
    return folder, {"WORKBENCH_CORPORA": str(folder), f"WORKBENCH_CORPUS_URL_{name.upper()}": missing}


def _one_line_error(r, *needles, code=2):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("workbench: error:") and r.stderr.count("\n") == 1, r.stderr
    for needle in needles:
        assert needle in r.stderr, (needle, r.stderr)


@pytest.mark.parametrize("name", ["tinyshakespeare", "anna"])
def test_every_rank_finds_a_named_corpus_where_the_parent_found_it(tmp_path, name):
    """The issue's line (and the README's `--corpus anna --nproc 2`): the corpus only in a
    folder of WORKBENCH_CORPORA, the command run from another folder."""
    folder, env = _corpora(tmp_path, name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = run_cli("train", "--corpus", name, "--session", "named", *GROUP, "--steps", "10", "--nproc", "2",
                "--headless", "--sessions-dir", str(tmp_path / "sessions"), cwd=elsewhere, env=env, timeout=TIMEOUT)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "finished at step 10" in r.stdout and "workbench: error" not in r.stderr, (r.stdout, r.stderr)
    session = Session(tmp_path / "sessions" / "named")
    status = session.read_status()
    assert status["state"] == "finished" and status["step"] == 10 and status["shape"] == "2 x cpu, gloo"
    assert session.read_config().corpus == name  # stored by name: each rank looked it up
    assert session.read_corpus_info()["origin"] == str((folder / f"{name}.txt").resolve())


def test_the_ranks_inherit_the_callers_environment_less_a_relative_pythonpath(tmp_path, monkeypatch):
    """The root cause: the supervisor cleared its environment before copying it for the ranks,
    so they lost WORKBENCH_CORPORA (and PATH, HOME). torchrun itself is left out here."""
    import torch.distributed.run

    session = make_session(tmp_path / "sessions", small_text(tmp_path), "env", processes=2)
    seen = {}
    monkeypatch.setattr(torch.distributed.run, "run", lambda args: seen.update(os.environ))
    saved = dict(os.environ)
    try:
        os.environ.update({"WORKBENCH_CORPORA": str(tmp_path / "corpora"), "PYTHONPATH": f"relative{os.pathsep}/abs"})
        from workbench.engine.processes.group import run_group

        assert run_group(session, tmp_path / "sessions") == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert seen["WORKBENCH_CORPORA"] == str(tmp_path / "corpora") and seen["PATH"] == saved["PATH"]
    assert seen["PYTHONPATH"] == "/abs" and seen["WORKBENCH_SUPERVISOR_PID"] == str(os.getpid())


def test_a_group_refused_before_its_first_step_marks_the_session_failed(tmp_path):
    """The parent (`resume`) does not read the text; every rank does, and rank 0 finds it changed:
    no step is trained, the session says failed with rank 0's line, and the supervisor prints that
    line once (the ranks leave it to it), exit status 2, no traceback."""
    folder, env = _corpora(tmp_path, "tinyshakespeare")
    sessions = ["--sessions-dir", str(tmp_path / "sessions")]
    r = run_cli("train", "--corpus", "tinyshakespeare", "--session", "s", *GROUP, "--steps", "5", "--headless",
                *sessions, env=env, timeout=TIMEOUT)
    assert r.returncode == 0, (r.stdout, r.stderr)
    text = folder / "tinyshakespeare.txt"
    text.write_text(text.read_text()[::-1])  # the same characters, not the same text
    r = run_cli("resume", "s", "--nproc", "2", "--steps", "10", "--headless", *sessions, env=env, timeout=TIMEOUT)
    _one_line_error(r, "the text of session 's'", "changed since it was trained on")
    status = Session(tmp_path / "sessions" / "s").read_status()
    assert status["state"] == "failed" and status["error"] == r.stderr.removeprefix("workbench: error: ").strip()
    assert status["pid"] is None and status["step"] == 5
    [row] = json.loads(run_cli("sessions", "--json", *sessions).stdout)
    assert row["state"] == "failed"
    # detached, the launcher hears the supervisor's line
    r = run_cli("resume", "s", "--nproc", "2", "--steps", "10", "--detach", *sessions, env=env, timeout=TIMEOUT)
    _one_line_error(r, "exited at once: the text of session 's'", "changed since it was trained on", code=1)


# -- the post-mortem, from what torchrun may report ----------------------------------------------

class _Failure:
    def __init__(self, pid=None, exitcode=None, timestamp=None, message=None):
        self.pid, self.exitcode, self.timestamp, self.message = pid, exitcode, timestamp, message


def _process_failure(tmp_path, exitcode, data=None, rank=0):
    """torchrun's own record of a failed process, with an error file holding `data` (None: no file)."""
    path = tmp_path / f"error-{rank}-{exitcode}.json"
    if data is not None:
        path.write_text(json.dumps(data))
    return ProcessFailure(local_rank=rank, pid=4200 + rank, exitcode=exitcode, error_file=str(path))


def test_the_line_a_rank_leaves_is_what_torchrun_reads(tmp_path, monkeypatch):
    path = tmp_path / "error.json"
    monkeypatch.delenv("TORCHELASTIC_ERROR_FILE", raising=False)
    assert not record_error("not under torchrun")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test")
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(path))
    assert record_error("corpus 'anna' is not cached")
    failure = ProcessFailure(local_rank=0, pid=1, exitcode=2, error_file=str(path))
    assert failure.message == "corpus 'anna' is not cached" and last_words(failure) == failure.message
    assert describe_failure(0, failure) == "rank 0 (process 1) exited with status 2: corpus 'anna' is not cached"


SHAPES = {
    "torchrun's, with our line": lambda tmp: {0: _process_failure(tmp, 2, {"message": "bad corpus", "timestamp": 5}),
                                              1: _process_failure(tmp, 2, None, rank=1)},
    "torchrun's structured error": lambda tmp: {1: _process_failure(tmp, 1, {"message": {
        "message": "RuntimeError: boom", "extraInfo": {"py_callstack": "Traceback ...", "timestamp": "7"}}}, rank=1)},
    "killed, no error file": lambda tmp: {0: _process_failure(tmp, -signal.SIGKILL),
                                          1: _process_failure(tmp, 1, rank=1)},
    "no exit status": lambda tmp: {0: _Failure(pid=7, exitcode=None, timestamp=None, message=None)},
    "odd fields": lambda tmp: {"1": _Failure(pid="x", exitcode="2", timestamp="soon", message={"no": "message"}),
                               0: _Failure(exitcode=2.0, message=42)},
    "dicts": lambda tmp: {0: {"pid": 3, "exitcode": -9, "timestamp": 1}, 1: {"exitcode": 2, "message": "rank says"}},
    "a list": lambda tmp: [_Failure(pid=1, exitcode=-15), _Failure(pid=2, exitcode=1, message="gone")],
    "nothing at all": lambda tmp: None,
    "an int": lambda tmp: 1,
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_post_mortem_survives_whatever_torchrun_reports(tmp_path, shape):
    """Before any step (no metrics, rank 0 never wrote its status): the session says failed with a
    reason whenever there is one to give, and nothing raises."""
    failures = SHAPES[shape](tmp_path)
    session = make_session(tmp_path / "sessions", small_text(tmp_path), "pm")
    started = time.time()
    for status in ({}, {"state": "failed", "lost_peer": True, "peer_died": True, "rank_pids": [1, 2, 3]},
                   {"state": "running", "rank_pids": "garbled"}):
        culprit(failures, status)
    refusal(failures)
    verdict = post_mortem(session, failures, started)
    status = session.read_status()
    if verdict is None:
        assert shape in ("nothing at all", "an int") and status["state"] == "created"
        return
    line, code = verdict
    assert status["state"] == "failed" and status["error"] == line and isinstance(code, int) and code > 0
    assert "\n" not in line


def test_the_post_mortem_gives_the_ranks_own_line_for_a_group_refused_in_setup(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path), "r")
    # rank 0 left its own line; rank 1 only relayed it ("rank 0: ...")
    failures = {0: _process_failure(tmp_path, 2, {"message": "corpus 'anna' is not cached", "timestamp": 9}),
                1: _process_failure(tmp_path, 2, {"message": "rank 0: corpus 'anna' is not cached", "timestamp": 9},
                                    rank=1)}
    assert post_mortem(session, failures, time.time()) == ("corpus 'anna' is not cached", 2)
    assert session.read_status()["error"] == "corpus 'anna' is not cached"
    # rank 0 only lost contact: the rank that said why is named
    failures = {0: _Failure(pid=1, exitcode=1, message="lost contact with another process of the group while starting"),
                1: _Failure(pid=2, exitcode=2, message="the corpus x on this machine is not the text rank 0 trains on")}
    assert refusal(failures) == ("rank 1: the corpus x on this machine is not the text rank 0 trains on", 2)
    # a process killed in setup said nothing: the culprit, as for a run that had begun
    line, code = post_mortem(session, {1: _Failure(pid=2, exitcode=-9)}, time.time())
    assert line.startswith("rank 1 (process 2) was killed by SIGKILL at step 0") and code == 1


def test_the_post_mortem_leaves_rank_0s_own_reason(tmp_path):
    """A run that began and failed with rank 0's own reason (a guard): that stays, nothing is said."""
    session = make_session(tmp_path / "sessions", small_text(tmp_path), "g")
    started = time.time()
    session.write_status(state="failed", error="the loss is not finite at step 3", started=time.time(),
                         finished=time.time(), lost_peer=False)
    assert post_mortem(session, {0: _Failure(pid=1, exitcode=1, message="x")}, started) is None
    assert session.read_status()["error"] == "the loss is not finite at step 3"
