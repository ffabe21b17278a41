"""`workbench export` (CSV, TensorBoard) and the live TensorBoard writer: every value read back
with the csv module and TensorBoard's own reader and compared with metrics.jsonl and
samples.jsonl; nothing written twice; the user's mistakes and a missing extra are one line."""
from __future__ import annotations

import csv
import io
import json
import math
import struct
import sys
from collections import defaultdict
from pathlib import Path


from workbench.cli import main
from workbench.engine.config import TrainConfig
from workbench.engine.sessions.session import Session, read_jsonl

from support import TINY, make_session, run_cli, small_text

T0 = 1_767_225_600.0


def fixed_session(sessions: Path, name: str = "fixed") -> Session:
    """A session with a hand-made history: cheap and full validations, a key from a newer
    version, awkward sample texts and a torn last line (a trainer killed mid-write)."""
    session = Session.create(sessions, name, TrainConfig(corpus="x.txt", device="cpu"), {"name": "x"}, list("ab"))
    metrics = []
    for step in range(5, 101, 5):
        record = {"step": step, "epoch": round(step / 70, 6), "train_loss": round(4.2 - step / 40, 6), "lr": 0.002,
                  "grad_norm": 0.25 + step / 1000, "chars_per_sec": 40_000 + step, "time": T0 + step * 0.731}
        if step % 20 == 0:
            record.update(val_loss=round(4.3 - step / 41, 5), val_full=step % 50 == 0)
        if step > 90:
            record["world_size"] = 2  # a newer version's key: its own column in the CSV
        metrics.append(record)
    texts = ["The cat\r\nsat.", "    indented `code` # not a heading\n\n* not a list *\n", "Ännä — ✓ <b>x</b>"]
    samples = [{"step": 20 * (i + 1), "time": T0 + 20 * (i + 1) + 0.5, "text": text, "prime": "The ",
                "temperature": 0.8, "top_k": 5, "top_p": None, "length": 10} for i, text in enumerate(texts)]
    session.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in metrics) + '{"step": 105, "tra')
    session.samples_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in samples))
    return session


def f32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def expected_scalars(metrics: list[dict]) -> dict[str, list[tuple]]:
    """What TensorBoard should hold, computed from the records: (step, wall time, float32)."""
    out = defaultdict(list)
    for r in metrics:
        def add(tag, value):
            out[tag].append((r["step"], r["time"], f32(value)))

        add("loss/train", r["train_loss"])
        add("bits_per_char/train", r["train_loss"] / math.log(2))
        if "val_loss" in r:
            add("loss/val", r["val_loss"])
            add("bits_per_char/val", r["val_loss"] / math.log(2))
            if r["val_full"]:
                add("loss/val_full", r["val_loss"])
                add("bits_per_char/val_full", r["val_loss"] / math.log(2))
        add("optimizer/lr", r["lr"])
        add("optimizer/grad_norm", r["grad_norm"])
        add("speed/chars_per_sec", r["chars_per_sec"])
        add("progress/epoch", r["epoch"])
    return dict(out)


def text_of(markdown: str) -> str:
    """The sample inside TensorBoard's Markdown: after the settings line, four spaces in."""
    settings, _, block = markdown.partition("\n\n")
    assert "temperature" in settings and "top-k" in settings, settings
    lines = block.split("\n")
    assert all(line.startswith("    ") for line in lines), lines
    return "\n".join(line[4:] for line in lines)


def assert_tensorboard_holds(folder: Path, session: Session) -> None:
    """Every scalar at its step and wall time, once, and every sample text, as the session's files say."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, TENSORS, EventAccumulator

    reader = EventAccumulator(str(folder), size_guidance={SCALARS: 0, TENSORS: 0})  # 0: keep everything
    reader.Reload()
    metrics, samples = read_jsonl(session.metrics_path), read_jsonl(session.samples_path)
    expected = expected_scalars(metrics)
    assert sorted(reader.Tags()["scalars"]) == sorted(expected)
    for tag, points in expected.items():
        assert [(e.step, e.wall_time, e.value) for e in reader.Scalars(tag)] == points, tag
    got = [(e.step, e.wall_time, text_of(e.tensor_proto.string_val[0].decode())) for e in reader.Tensors("samples")] \
        if samples else []
    assert got == [(s["step"], s["time"], s["text"]) for s in samples]


def event_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if "tfevents" in p.name)


def test_csv_has_every_column_of_every_record(tmp_path, capsys):
    session = fixed_session(tmp_path / "sessions")
    out = tmp_path / "metrics.csv"
    assert main(["export", "fixed", "--sessions-dir", str(tmp_path / "sessions"), "--csv", str(out)]) == 0
    assert "20 rows, up to step 100" in capsys.readouterr().err
    assert main(["export", "fixed", "--sessions-dir", str(tmp_path / "sessions"), "--csv", "-"]) == 0
    assert capsys.readouterr().out == out.read_text()  # `-` is the same CSV on stdout

    records = read_jsonl(session.metrics_path)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    columns = ["step", "epoch", "train_loss", "lr", "grad_norm", "chars_per_sec", "time", "val_loss", "val_full",
               "world_size"]
    assert list(rows[0]) == columns and len(rows) == len(records) == 20  # the torn line is not a row
    for row, record in zip(rows, records):
        for column in columns:
            value = record.get(column)
            if value is None:
                assert row[column] == "", (column, row)
            elif isinstance(value, bool):
                assert row[column] == ("true" if value else "false")
            else:
                assert float(row[column]) == value and type(value)(row[column]) == value, (column, row)


def test_tensorboard_export_holds_every_value_once_and_appends_only_what_is_new(tmp_path, capsys):
    sessions, logdir = tmp_path / "sessions", tmp_path / "tb"
    session = fixed_session(sessions)
    argv = ["export", "fixed", "--sessions-dir", str(sessions), "--tensorboard", str(logdir)]
    assert main(argv) == 0
    assert "values at 20 steps and 3 samples appended" in capsys.readouterr().err
    assert_tensorboard_holds(logdir / "fixed", session)

    assert main(argv) == 0  # again: nothing new, not even an empty file
    assert "up to date" in capsys.readouterr().err
    assert len(event_files(logdir / "fixed")) == 1
    assert_tensorboard_holds(logdir / "fixed", session)

    # A writer killed mid-record leaves a torn last record (step 100): TensorBoard ignores it,
    # and the next export writes that step again, once.
    first = event_files(logdir / "fixed")[0]
    first.write_bytes(first.read_bytes()[:-7])
    assert main(argv) == 0
    assert "at 1 steps and 0 samples appended" in capsys.readouterr().err
    assert_tensorboard_holds(logdir / "fixed", session)

    # Training went on (the torn line completed, more steps and a sample): only those are appended.
    metrics = read_jsonl(session.metrics_path)
    more = [{**metrics[-1], "step": step, "time": T0 + step, "val_loss": 1.5, "val_full": True}
            for step in (105, 110)]
    session.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in metrics + more))
    with session.samples_path.open("a") as f:
        f.write(json.dumps({"step": 110, "time": T0 + 110.5, "text": "new", "prime": "n", "temperature": 1.0,
                            "top_k": None, "top_p": 0.9, "length": 2}) + "\n")
    assert main(argv) == 0
    assert "at 2 steps and 1 samples appended" in capsys.readouterr().err
    assert len(event_files(logdir / "fixed")) == 3  # one file per writer, none rewritten
    assert_tensorboard_holds(logdir / "fixed", session)


def test_training_writes_tensorboard_live_the_same_as_export(tmp_path, capsys):
    """The path every trainer takes (engine/processes/runner.py), with the folder in the session's
    config, as the form and a background trainer have it; then a resume carries on."""
    from workbench.engine.processes.runner import train_here

    logdir = tmp_path / "tb"
    session = make_session(tmp_path / "sessions", small_text(tmp_path), name="live", sample_every=20,
                           checkpoint_every=20, tensorboard=str(logdir), max_steps=40)
    assert train_here(session) == 0
    assert_tensorboard_holds(logdir / "live", session)
    assert read_jsonl(session.metrics_path)[-1]["step"] == 40 and len(read_jsonl(session.samples_path)) == 2

    assert main(["export", "live", "--sessions-dir", str(tmp_path / "sessions"), "--tensorboard", str(logdir)]) == 0
    assert "up to date" in capsys.readouterr().err  # the live writer left nothing to add

    session.write_config(session.read_config().with_budget(70, None, None))
    assert train_here(session, command="workbench resume") == 0
    assert read_jsonl(session.metrics_path)[-1]["step"] == 70
    assert len(event_files(logdir / "live")) == 2  # one per run
    assert_tensorboard_holds(logdir / "live", session)


def test_export_leaves_a_folder_its_trainer_writes_live_to_the_trainer(tmp_path, capsys):
    from workbench.engine.sessions.lock import SessionLock

    sessions, logdir = tmp_path / "sessions", tmp_path / "tb"
    session = fixed_session(sessions)
    session.write_config(TrainConfig(corpus="x.txt", device="cpu", tensorboard=str(logdir)))
    lock = SessionLock(session.lock_path, session.name)
    lock.acquire("a trainer")  # as a running trainer holds it
    try:
        assert main(["export", "fixed", "--sessions-dir", str(sessions), "--tensorboard", str(logdir)]) == 0
        assert "writes" in capsys.readouterr().err and not logdir.exists()
    finally:
        lock.release()
    assert main(["export", "fixed", "--sessions-dir", str(sessions), "--tensorboard", str(logdir)]) == 0
    assert_tensorboard_holds(logdir / "fixed", session)


def test_a_failing_tensorboard_writer_never_stops_training(tmp_path, capfd):
    from workbench.engine.processes.runner import train_here

    logdir = tmp_path / "tb"
    logdir.mkdir()
    (logdir / "broken").write_text("a file where the run folder would go\n")
    session = make_session(tmp_path / "sessions", small_text(tmp_path), name="broken", tensorboard=str(logdir),
                           max_steps=30)
    assert train_here(session) == 0
    assert read_jsonl(session.metrics_path)[-1]["step"] == 30
    err = capfd.readouterr().err
    assert err.count("TensorBoard logs in") == 1 and "is a file" in err, err  # said once, then quiet


def one_line_error(r) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error:") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_mistakes_are_one_line(tmp_path):
    sessions = tmp_path / "sessions"
    fixed_session(sessions)
    where = ["--sessions-dir", str(sessions)]
    assert "--csv FILE" in one_line_error(run_cli("export", "fixed", *where))
    assert "no session named 'nope'" in one_line_error(run_cli("export", "nope", *where, "--csv", "-"))
    assert "does not exist" in one_line_error(run_cli("export", "fixed", *where, "--csv", str(tmp_path / "no/x.csv")))
    assert "is a folder" in one_line_error(run_cli("export", "fixed", *where, "--csv", str(tmp_path)))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "is a file" in one_line_error(run_cli("export", "fixed", *where, "--tensorboard", str(a_file)))
    assert not (tmp_path / "no").exists()


def test_a_missing_extra_is_one_line_with_the_install_command(tmp_path, monkeypatch, capsys):
    from workbench.engine.export.tensorboard_live import live_writer

    session = fixed_session(tmp_path / "sessions")
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails, as when not installed
    monkeypatch.setitem(sys.modules, "textual_serve", None)
    csv_file = tmp_path / "out.csv"
    code = main(["export", "fixed", "--sessions-dir", str(tmp_path / "sessions"), "--csv", str(csv_file),
                 "--tensorboard", str(tmp_path / "tb")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'tensorboard>=2.14'" in err[0], err
    assert not csv_file.exists() and not (tmp_path / "tb").exists()  # refused before anything was written

    assert main(["serve", "--sessions-dir", str(tmp_path / "sessions")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'textual-serve>=1.1'" in err[0] and "[web] extra" in err[0], err

    config = session.read_config()
    config.tensorboard = str(tmp_path / "tb")
    assert live_writer(session, config) is None  # a trainer trains on, with one warning
    assert "not writing TensorBoard logs" in capsys.readouterr().err


def test_an_old_config_without_the_field_loads():
    data = TrainConfig().to_dict()
    del data["tensorboard"]
    assert TrainConfig.from_dict(data).tensorboard is None


def test_train_option_writes_tensorboard(tmp_path):
    sessions, logdir, corpus = tmp_path / "sessions", tmp_path / "tb", small_text(tmp_path)
    r = run_cli("train", "--corpus", str(corpus), "--session", "t", "--sessions-dir", str(sessions), *TINY,
                "--steps", "20", "--tensorboard", str(logdir))
    assert r.returncode == 0, r.stderr
    session = Session.open(sessions, "t")
    assert session.read_config().tensorboard == str(logdir.resolve())
    assert_tensorboard_holds(logdir / "t", session)
