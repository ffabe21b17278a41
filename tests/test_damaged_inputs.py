"""Sessions damaged by hand or whose inputs changed under them: each is one line that names
the damaged file and what to do, never a traceback, never another session taken down, and
never a session trained on the wrong text without a word."""
import json
import shutil

from workbench.engine.sessions.checkpoint import CheckpointError, load_first_good, same_model
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import Session, list_sessions, read_jsonl

from support import make_session, run_cli, run_trainer, small_text


def _trained(tmp_path, name="s", steps=10, text=None, **overrides):
    session = make_session(tmp_path / "sessions", text or small_text(tmp_path), name, checkpoint_every=5,
                           threads=1, **overrides)
    final, _ = run_trainer(session, steps=steps)
    assert final.kind == "finished"
    return session


def _cli(tmp_path, *args, **kw):
    return run_cli(*args, "--sessions-dir", str(tmp_path / "sessions"), **kw)


def _one_line_error(r, *needles, code=2):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("workbench: error:") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in r.stderr, (needle, r.stderr)


# -- 7. one bad field in status.json ---------------------------------------------------------------
def test_a_damaged_status_is_listed_as_damaged_and_the_others_still_list(tmp_path):
    good = _trained(tmp_path, "good")
    for bad in ({"updated": "yesterday"}, {"best_val_loss": "x"}, {"params": "many"}, {"state": 7},
                {"step": [1]}, {"rank_pids": ["a"]}):
        damaged = _trained(tmp_path, "damaged") if not (tmp_path / "sessions" / "damaged").exists() else \
            Session(tmp_path / "sessions" / "damaged")
        status = json.loads(damaged.status_path.read_text())
        damaged.status_path.write_text(json.dumps({**status, **bad}))
        rows = {row["name"]: row for row in list_sessions(tmp_path / "sessions")}  # what the home screen lists
        assert rows["good"]["state"] == "finished" and rows["good"]["error"] is None
        field = next(iter(bad))
        assert f"status.json: {field} should be" in rows["damaged"]["error"], (bad, rows["damaged"])
        if field == "state":
            assert rows["damaged"]["state"] == "broken"
        r = _cli(tmp_path, "sessions")
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert "good" in r.stdout and "damaged" in r.stdout
        r = _cli(tmp_path, "sessions", "--json")
        assert r.returncode == 0 and {row["name"] for row in json.loads(r.stdout)} == {"good", "damaged"}
        damaged.status_path.write_text(json.dumps(status))
    assert good.read_status()["state"] == "finished"


def test_a_damaged_checkpoint_step_does_not_stop_a_resume(tmp_path):
    session = _trained(tmp_path)
    status = json.loads(session.status_path.read_text())
    session.status_path.write_text(json.dumps({**status, "checkpoint_step": "a"}))
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "15")
    assert r.returncode == 0, r.stderr
    status = session.read_status()
    assert status["state"] == "finished" and status["step"] == 15 and status["checkpoint_step"] == 15
    assert "damaged" not in status  # rewritten whole by the trainer


# -- 8. a config field missing, a checkpoint from another session ------------------------------
def test_a_config_missing_a_field_names_it(tmp_path):
    session = _trained(tmp_path)
    config = json.loads(session.config_path.read_text())
    del config["hidden"]
    session.config_path.write_text(json.dumps(config))
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "20")
    _one_line_error(r, "config.json", "hidden is missing")
    assert session.read_status()["step"] == 10


def test_a_checkpoint_from_another_session_is_refused_by_name_and_an_older_one_used(tmp_path):
    text = small_text(tmp_path)
    session = _trained(tmp_path, "s", text=text)
    other = _trained(tmp_path, "wide", text=text, hidden=48)  # the same vocabulary, another shape
    latest = session.checkpoint_path("latest")
    latest.unlink()
    shutil.copy(other.checkpoint_path("latest"), latest)
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "20")
    assert r.returncode == 0, r.stderr
    assert "is of another model (hidden 48 where the session has 32)" in r.stderr
    assert "resumed from an older checkpoint (step 10)" in r.stderr
    warnings = [e["message"] for e in read_jsonl(session.events_path) if e["kind"] == "warning"]
    assert any("another model" in w for w in warnings)
    assert session.read_status()["step"] == 20


def test_the_model_check_compares_shape_vocabulary_and_weights(tmp_path):
    session = _trained(tmp_path)
    path = session.checkpoint_path("latest")
    data, _, _ = load_first_good([path])
    vocab = data["vocab"]
    shapes = {name: tuple(t.shape) for name, t in data["model"].items()}
    same_model(vocab, {"cell": "lstm", "hidden": 32, "layers": 2}, shapes)(data, path)  # its own: fine
    for vocab_, shape, weights, needle in [
        (vocab, {"cell": "gru", "hidden": 32, "layers": 2}, None, "cell lstm where the session has gru"),
        (vocab, {"cell": "lstm", "hidden": 32, "layers": 3}, None, "layers 2 where the session has 3"),
        (vocab[:-1], {"cell": "lstm"}, None, f"a vocabulary of {len(vocab)} characters"),
        (vocab[::-1], {"cell": "lstm"}, None, "another vocabulary"),
        (vocab, {"cell": "lstm"}, {**shapes, "fc.weight": (1, 1)}, "holds weights that do not fit"),
    ]:
        try:
            same_model(vocab_, shape, weights)(data, path)
        except CheckpointError as exc:
            assert needle in str(exc), (needle, str(exc))
        else:
            raise AssertionError(f"accepted: {needle}")


# -- 11. the text changed under the session --------------------------------------------------
def test_a_changed_text_with_the_same_characters_is_refused_until_asked(tmp_path):
    text = small_text(tmp_path)
    session = _trained(tmp_path, text=text)
    assert json.loads(session.corpus_path.read_text())["fingerprint"]
    original = text.read_text()
    text.write_text("\n".join(reversed(original.split("\n"))))  # the same characters, another text
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "20")
    _one_line_error(r, "changed since it was trained on", "--new-text")
    assert session.read_status()["step"] == 10
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "20", "--new-text")
    assert r.returncode == 0 and "goes on with the changed text" in r.stderr, r.stderr
    assert session.read_status()["step"] == 20
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "25")  # the new text is the session's now
    assert r.returncode == 0, r.stderr


def test_a_shorter_text_goes_on_from_a_new_epoch_when_asked(tmp_path):
    text = small_text(tmp_path, chars=20_000)
    session = _trained(tmp_path, text=text, steps=100)  # 100 windows of 8 x 20 into an epoch of 112
    original = text.read_text()
    keep = original[:6_000]
    keep += "".join(sorted(set(original) - set(keep)))  # every character still there: only shorter
    text.write_text(keep)
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "110")
    _one_line_error(r, "characters then", "--new-text")
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "110", "--new-text")
    assert r.returncode == 0, r.stderr
    status = session.read_status()
    assert status["state"] == "finished" and status["step"] == 110 and status["epoch"] >= 1


def test_an_old_session_without_a_fingerprint_gets_one(tmp_path):
    text = small_text(tmp_path)
    session = _trained(tmp_path, text=text)
    info = json.loads(session.corpus_path.read_text())
    del info["fingerprint"]
    session.corpus_path.write_text(json.dumps(info))
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "15")
    assert r.returncode == 0, r.stderr
    assert json.loads(session.corpus_path.read_text())["fingerprint"]
    text.write_text(text.read_text()[::-1])  # from now on a change is seen
    _one_line_error(_cli(tmp_path, "resume", "s", "--headless", "--steps", "20"), "changed since")


def test_a_vocab_file_with_a_character_twice_is_named_and_repaired(tmp_path):
    trained = _trained(tmp_path, "t")
    vocab = json.loads(trained.vocab_path.read_text())
    trained.vocab_path.write_text(json.dumps(vocab + [vocab[0]]))
    try:
        trained.read_vocab_file()
    except WorkbenchError as exc:
        assert "vocab.json is damaged" in str(exc) and "more than once" in str(exc)
    else:
        raise AssertionError("a vocabulary with a character twice was read")
    # not blamed on the corpus: the checkpoints' copy replaces the damaged file
    r = _cli(tmp_path, "resume", "t", "--headless", "--steps", "15")
    assert r.returncode == 0 and "no longer matches" not in r.stderr, r.stderr
    assert json.loads(trained.vocab_path.read_text()) == vocab


# -- 12. checkpoint files that are not what they should be ------------------------------------
def test_a_folder_named_latest_pt_is_refused_before_any_step(tmp_path):
    session = _trained(tmp_path)
    latest = session.checkpoint_path("latest")
    latest.unlink()
    latest.mkdir()
    r = _cli(tmp_path, "resume", "s", "--headless", "--steps", "20")
    _one_line_error(r, "latest.pt is not a checkpoint file", "move it out of the session")
    assert session.read_status()["step"] == 10 and latest.is_dir()
