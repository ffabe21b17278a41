"""Bad input that used to end in a traceback (or worse, a half-made session): each is one line
on stderr that names the problem and what to do."""
import json
import os
import subprocess
import sys

import pytest

from workbench.engine.config import TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.machine.memory import check_fits_memory, training_bytes

from support import make_session, run_cli, run_trainer, small_text


def _one_line_error(r, *needles, code=2):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("workbench: error:") and r.stderr.count("\n") == 1, r.stderr
    for needle in needles:
        assert needle in r.stderr, (needle, r.stderr)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained session whose text holds non-ASCII characters."""
    tmp = tmp_path_factory.mktemp("trained")
    text = tmp / "cafe.txt"
    text.write_text("Café crème brûlée, déjà vu; naïve façade. " * 600)
    session = make_session(tmp / "sessions", text, "fr", checkpoint_every=5, threads=1)
    final, _ = run_trainer(session, steps=10)
    assert final.kind == "finished"
    return tmp / "sessions", session


def _train(tmp_path, *args):
    return run_cli("train", "--corpus", str(small_text(tmp_path)), "--headless", "--steps", "1", "--hidden", "32",
                   "--layers", "1", "--batch-size", "8", "--seq-length", "20", *args,
                   "--sessions-dir", str(tmp_path / "sessions"))


def test_a_checkpoint_number_that_is_no_number(trained):
    sessions, _ = trained
    for command in (["sample"], ["probe", "--prime", "Caf"]):
        r = run_cli(command[0], "fr", *command[1:], "--checkpoint", "²", "--sessions-dir", str(sessions))
        _one_line_error(r, "--checkpoint must be latest, best or a step number, got '²'")


def test_a_text_that_decodes_to_a_lone_surrogate_leaves_no_session(tmp_path):
    path = tmp_path / "escaped.txt"
    path.write_bytes(b"plain text, then \\ud800 and more\n" * 2000)
    r = run_cli("train", "--corpus", str(path), "--encoding", "unicode_escape", "--headless", "--steps", "1",
                "--session", "esc", "--sessions-dir", str(tmp_path / "sessions"))
    _one_line_error(r, "U+D800", "half of a surrogate pair")
    assert not (tmp_path / "sessions" / "esc").exists()
    r = run_cli("train", "--corpus", str(path), "--encoding", "unicode_escape", "--headless", "--steps", "1",
                "--session", "esc", "--sessions-dir", str(tmp_path / "sessions"))
    assert "already exists" not in r.stderr  # nothing half made that a retry would trip over


def test_a_model_too_big_for_memory_is_refused_before_a_session_is_made(tmp_path):
    r = _train(tmp_path, "--hidden", "100000", "--session", "huge")
    _one_line_error(r, "needs at least", "free; make --hidden")
    assert not (tmp_path / "sessions" / "huge").exists()


def test_the_memory_estimate_errs_low_and_grows_with_the_model():
    small, big = TrainConfig(hidden=64, layers=1), TrainConfig(hidden=100_000)
    # 64x1 on 80 characters: ~40k parameters, far below a real run's footprint
    assert training_bytes(small, 80) < 200e6
    assert training_bytes(big, 80) > 1e12
    check_fits_memory(small, 80, int(1e9), "here")
    with pytest.raises(WorkbenchError, match="needs at least .* and here has 1.0 GB free"):
        check_fits_memory(big, 80, int(1e9), "here")


def test_sample_with_its_output_closed(trained):
    sessions, _ = trained
    r = subprocess.run([sys.executable, "-m", "workbench", "sample", "fr", "--prime", "Caf", "--sessions-dir", str(sessions)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120,
                       preexec_fn=lambda: os.close(1))
    assert r.returncode == 1 and "standard output is closed" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_sample_and_probe_on_an_ascii_terminal(trained):
    sessions, _ = trained
    env = {"PYTHONIOENCODING": "ascii"}
    r = run_cli("sample", "fr", "--prime", "Caf", "--length", "200", "--seed", "1", "--sessions-dir", str(sessions),
                env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.isascii() and r.stdout.startswith("Caf")
    r = run_cli("probe", "fr", "--prime", "Caf", "--top", "20", "--sessions-dir", str(sessions), env=env)
    assert r.returncode == 0 and "\\xe9" in r.stdout, (r.stdout, r.stderr)  # é, escaped
    r = run_cli("probe", "fr", "--prime", "Caf", "--json", "--sessions-dir", str(sessions), env=env)
    assert r.returncode == 0 and r.stdout.isascii(), (r.stdout, r.stderr)
    assert "é" in [row["char"] for row in json.loads(r.stdout)["distribution"]]  # as a \\u escape, read back


# -- 13. session names ---------------------------------------------------------------------------
def test_session_names_that_are_empty_end_in_a_newline_or_are_taken_by_a_file(tmp_path):
    _one_line_error(_train(tmp_path, "--session", ""), "the session name is empty")
    _one_line_error(_train(tmp_path, "--session", "trail\n"), "invalid session name 'trail\\n'")
    (tmp_path / "sessions").mkdir()
    (tmp_path / "sessions" / "afile").write_text("not a session")
    _one_line_error(_train(tmp_path, "--session", "afile"), "already exists and is a file, not a session")
    assert list((tmp_path / "sessions").iterdir()) == [tmp_path / "sessions" / "afile"]  # nothing else made
    (tmp_path / "sessions" / "empty").mkdir()  # an empty folder (a create killed half way) is taken over
    r = _train(tmp_path, "--session", "empty")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "sessions" / "empty" / "config.json").is_file()
    assert not [p for p in (tmp_path / "sessions").iterdir() if p.name.startswith(".")]  # no draft left


# -- primes from a file, and the warnings of a checkpoint passed over ---------------------------
def test_a_prime_from_a_file_or_standard_input(trained, tmp_path):
    sessions, _ = trained
    prime = tmp_path / "prime.txt"
    prime.write_bytes("\ufeffCafé crème brû".encode())
    r = run_cli("probe", "fr", "--prime-file", str(prime), "--json", "--sessions-dir", str(sessions))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["prime"] == "Café crème brû"  # read like a text: no byte-order mark
    piped = subprocess.run([sys.executable, "-m", "workbench", "sample", "fr", "--prime-file", "-", "--length", "20",
                            "--seed", "3", "--json", "--sessions-dir", str(sessions)], input="Café ", text=True,
                           capture_output=True, timeout=120)
    assert piped.returncode == 0 and json.loads(piped.stdout)["samples"][0].startswith("Café "), piped.stderr
    _one_line_error(run_cli("probe", "fr", "--prime-file", str(tmp_path / "none.txt"), "--sessions-dir", str(sessions)),
                    "does not exist")
    both = run_cli("sample", "fr", "--prime", "a", "--prime-file", str(prime), "--sessions-dir", str(sessions))
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_a_prime_longer_than_any_that_is_fed_is_refused_without_reading_it_all(trained, tmp_path):
    sessions, _ = trained
    huge = tmp_path / "huge.txt"
    huge.write_text("a" * 10_000_000)  # 10 MB: was read whole and fed (53 s, 364 MB)
    for command in ("probe", "sample"):
        _one_line_error(run_cli(command, "fr", "--prime-file", str(huge), "--sessions-dir", str(sessions)),
                        "holds more than 100,000 characters")
    # An endless prime on standard input ends with the same refusal instead of never ending.
    endless = subprocess.Popen([sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('a' * 65536)"],
                               stdout=subprocess.PIPE)
    try:
        r = subprocess.run([sys.executable, "-m", "workbench", "probe", "fr", "--prime-file", "-", "--sessions-dir",
                            str(sessions)], stdin=endless.stdout, capture_output=True, text=True, timeout=120)
    finally:
        endless.kill()
        endless.wait()
    _one_line_error(r, "holds more than 100,000 characters")
    _one_line_error(run_cli("probe", "fr", "--prime", "a" * 100_001, "--sessions-dir", str(sessions)),
                    "at most 100,000 are fed")


def test_a_damaged_latest_checkpoint_is_said_by_sample_and_in_its_json(trained, tmp_path):
    import shutil

    sessions, session = trained
    copy = tmp_path / "sessions"
    shutil.copytree(sessions, copy)
    latest = copy / "fr" / "checkpoints" / "latest.pt"
    latest.write_bytes(b"not a checkpoint")
    r = run_cli("sample", "fr", "--prime", "Caf", "--length", "10", "--seed", "1", "--sessions-dir", str(copy))
    assert r.returncode == 0, r.stderr
    assert "warning: " in r.stderr and "latest.pt is corrupt or not a checkpoint" in r.stderr, r.stderr
    assert "used step-00000010.pt (step 10) instead" in r.stderr
    r = run_cli("sample", "fr", "--prime", "Caf", "--length", "10", "--seed", "1", "--json", "--sessions-dir",
                str(copy))
    warnings = json.loads(r.stdout)["warnings"]
    assert len(warnings) == 1 and "latest.pt" in warnings[0]
