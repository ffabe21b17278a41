"""A session folder damaged by hand (a file deleted or garbled) still trains, samples and lists,
or says in one line what is wrong; nothing in it is lost."""
import json
import shutil

import pytest

from workbench.engine.control import events as ev
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import read_jsonl

from support import make_session, run_cli, run_trainer, small_text


def test_a_lost_vocab_file_is_recovered_from_the_checkpoint_and_written_back(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path))
    run_trainer(session, steps=10)
    vocab = json.loads(session.vocab_path.read_text())
    session.vocab_path.unlink()
    with pytest.raises(WorkbenchError, match="vocab.json is missing"):
        session.read_vocab_file()
    assert session.read_vocab() == vocab and not session.vocab_path.exists()  # readers do not write
    final, events = run_trainer(session, steps=20)
    assert isinstance(final, ev.Finished) and final.step == 20
    assert any(isinstance(e, ev.Started) and e.resumed and e.step == 10 for e in events)
    assert json.loads(session.vocab_path.read_text()) == vocab  # the trainer, holding the lock, repaired it


def test_a_garbled_vocab_file_without_a_checkpoint(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path))
    vocab = json.loads(session.vocab_path.read_text())
    session.vocab_path.write_text('["a", "b"')
    with pytest.raises(WorkbenchError, match="unreadable .* and no checkpoint holds a copy") as info:
        session.read_vocab()
    assert "\n" not in str(info.value)
    session.vocab_path.write_text('["ab", 3]')
    with pytest.raises(WorkbenchError, match="not a list of characters"):
        session.read_vocab_file()
    # A session that never trained has its corpus's vocabulary: training rebuilds the file.
    final, _ = run_trainer(session, steps=5)
    assert isinstance(final, ev.Finished)
    assert json.loads(session.vocab_path.read_text()) == vocab


def test_a_deleted_checkpoints_folder_is_made_again(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path))
    run_trainer(session, steps=10)
    shutil.rmtree(session.checkpoints_dir)
    final, events = run_trainer(session, steps=15)
    assert isinstance(final, ev.Finished) and final.step == 15
    assert any(isinstance(e, ev.Started) and not e.resumed for e in events)  # nothing left to resume from
    assert (session.checkpoints_dir / "latest.pt").is_file()
    steps = [m["step"] for m in read_jsonl(session.metrics_path)]
    assert steps == sorted(set(steps)) and steps[-1] == 15  # the old history was dropped, not mixed in


def test_listing_with_a_garbled_status_and_a_garbled_config(tmp_path):
    sessions = tmp_path / "sessions"
    text = small_text(tmp_path)
    trained = make_session(sessions, text, name="trained")
    run_trainer(trained, steps=10)
    trained.status_path.write_text("garbage")
    broken = make_session(sessions, text, name="broken")
    broken.config_path.write_text('{"hidden": ')
    env = {"WORKBENCH_SESSIONS": str(sessions)}

    rows = {row["name"]: row for row in json.loads(run_cli("sessions", "--json", env=env).stdout)}
    # status.json lost: what the history says, and resumable
    assert rows["trained"]["state"] == "stopped" and rows["trained"]["steps"] == 10
    assert rows["broken"]["state"] == "broken" and "config.json" in rows["broken"]["error"]

    r = run_cli("sessions", env=env)
    assert r.returncode == 0
    line = next(line for line in r.stdout.splitlines() if line.startswith("broken"))
    assert line.split()[1] == "-"  # no half-formatted model column
    assert r.stderr.strip().startswith("broken: broken: session 'broken' has an unreadable config.json")

    r = run_cli("resume", "trained", "--steps", "15", "--headless", env=env)
    assert r.returncode == 0, r.stderr
    assert "resuming at step 10" in r.stdout


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error:"), r.stderr
    return lines[0]


def test_a_corpus_file_is_found_from_any_folder_and_a_moved_one_is_named(tmp_path):
    sessions = tmp_path / "sessions"
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir(), elsewhere.mkdir()
    small_text(home, name="text.txt")
    env = {"WORKBENCH_SESSIONS": str(sessions)}
    tiny = ["--hidden", "16", "--batch-size", "4", "--seq-length", "10", "--eval-every", "0", "--headless"]
    r = run_cli("train", "--corpus", "text.txt", "--session", "rel", *tiny, "--steps", "5", cwd=home, env=env)
    assert r.returncode == 0, r.stderr
    config = json.loads((sessions / "rel" / "config.json").read_text())
    assert config["corpus"] == str(home / "text.txt")  # stored absolute
    r = run_cli("resume", "rel", "--steps", "8", "--headless", cwd=elsewhere, env=env)
    assert r.returncode == 0 and "finished at step 8" in r.stdout, r.stderr

    # a session from before paths were stored absolute: found where it was made
    config["corpus"] = "text.txt"
    (sessions / "rel" / "config.json").write_text(json.dumps(config))
    r = run_cli("resume", "rel", "--steps", "10", "--headless", cwd=elsewhere, env=env)
    assert r.returncode == 0 and "finished at step 10" in r.stdout, r.stderr

    (home / "text.txt").rename(home / "moved.txt")
    before = (sessions / "rel" / "checkpoints" / "latest.pt").read_bytes()
    line = _one_line_error(run_cli("resume", "rel", "--steps", "12", "--headless", cwd=home, env=env))
    assert f"trains on {home / 'text.txt'}, which is no longer there; put the text back" in line
    assert (sessions / "rel" / "checkpoints" / "latest.pt").read_bytes() == before


def test_a_hand_edited_config_with_a_wrong_type_is_one_line(tmp_path):
    session = make_session(tmp_path / "sessions", small_text(tmp_path))
    config = json.loads(session.config_path.read_text())
    env = {"WORKBENCH_SESSIONS": str(tmp_path / "sessions")}
    for field, value, says in (("hidden", "abc", 'hidden should be a whole number, not "abc"'),
                               ("lr", [1], "lr should be a number, not [1]"),
                               ("patience", 2.5, "patience should be a whole number or null, not 2.5")):
        session.config_path.write_text(json.dumps({**config, field: value}))
        line = _one_line_error(run_cli("resume", session.name, "--steps", "5", "--headless", env=env))
        assert "unreadable config.json" in line and says in line
    session.config_path.write_text(json.dumps({**config, "sample": {**config["sample"], "top_k": "5"}}))
    assert 'sample.top_k should be a whole number or null, not "5"' in _one_line_error(
        run_cli("resume", session.name, "--steps", "5", "--headless", env=env))


def test_a_full_disk_while_checkpointing_fails_cleanly_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    import collections

    import torch

    from workbench.engine.sessions import checkpoint
    from workbench.engine.sessions.checkpoint import load_checkpoint

    session = make_session(tmp_path / "sessions", small_text(tmp_path))
    run_trainer(session, steps=10)
    real_save = torch.save

    def save_until_the_disk_fills(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 221952 vs 221904")

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", save_until_the_disk_fills)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda path: usage(1 << 30, 1 << 30, 0))
    final, _ = run_trainer(session, steps=20)
    monkeypatch.setattr(torch, "save", real_save)
    assert isinstance(final, ev.Failed)
    assert "is full (at step 20); free some space, then `workbench resume s`" in final.error
    assert "the last good checkpoint (step 10) is kept" in final.error
    assert load_checkpoint(session.checkpoint_path("latest"))["step"] == 10
    assert not list(session.checkpoints_dir.glob(".*.tmp"))  # the half-written file is gone
    assert session.read_status()["state"] == "failed"


def test_a_sessions_folder_that_is_a_file_or_cannot_be_made_is_one_line(tmp_path):
    text = small_text(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    tiny = ["--corpus", str(text), "--hidden", "16", "--batch-size", "4", "--seq-length", "10", "--steps", "5", "--headless"]
    for command in (["sessions"], ["ps"], ["train", *tiny]):
        line = _one_line_error(run_cli(*command, "--sessions-dir", str(a_file)))
        assert "is a file, not a folder" in line
    # below a file: the file system refuses, and says so in one line (status 1: not the input's fault alone)
    r = run_cli("train", *tiny, "--sessions-dir", str(a_file / "sessions"))
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith("workbench: error: Not a directory")
    assert "Traceback" not in r.stderr and a_file.read_text() == "not a folder"
