"""Paths a user names (engine/export/user_files.py), through `workbench export --csv`: a file keeps
its mode and owner, a link is followed, a hard link stays one, a pipe or a character device is
written into and stays what it was, anything else is refused in one line with nothing changed.
Device nodes are made by the test in its own folder, never the real /dev."""
from __future__ import annotations

import csv
import io
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from workbench.engine.config import TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import Session
from workbench.engine.export.user_files import IN_PLACE, NEW, REPLACE, STDOUT, STREAM, output_folder, output_target

from support import run_cli


def history(sessions: Path, name: str = "h", steps: int = 30) -> Session:
    session = Session.create(sessions, name, TrainConfig(corpus="x.txt", device="cpu"), {"name": "x"}, list("ab"))
    session.metrics_path.write_text("".join(json.dumps({"step": s, "train_loss": 4.0 - s / 100, "lr": 0.001}) + "\n"
                                            for s in range(1, steps + 1)))
    return session


def export(tmp_path: Path, target: str, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("export", "h", "--sessions-dir", str(tmp_path / "sessions"), "--csv", target, *extra)


def csv_steps(text: str) -> list[int]:
    return [int(row["step"]) for row in csv.DictReader(io.StringIO(text))]


def one_line_refusal(r: subprocess.CompletedProcess, *words: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error:") and "Traceback" not in r.stderr, r.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def device_node(path: Path, major: int, minor: int, kind: int = stat.S_IFCHR) -> Path:
    try:
        os.mknod(path, kind | 0o666, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("making a device node needs root (CAP_MKNOD); CI runs as root")
    return path


@pytest.fixture
def sessions(tmp_path):
    history(tmp_path / "sessions")
    return tmp_path / "sessions"


def test_a_character_device_is_written_into_never_replaced(tmp_path, sessions):
    null = device_node(tmp_path / "null", 1, 3)  # what /dev/null is
    before = os.lstat(null)
    r = export(tmp_path, str(null))
    assert r.returncode == 0, r.stderr
    after = os.lstat(null)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before.st_mode)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left

    full = device_node(tmp_path / "full", 1, 7)  # /dev/full: every write fails with ENOSPC
    r = export(tmp_path, str(full))
    assert r.returncode == 1 and "no space left" in r.stderr.lower() and "Traceback" not in r.stderr, r.stderr
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_standard_output_by_name_or_dash(tmp_path, sessions):
    dash = export(tmp_path, "-")
    assert dash.returncode == 0 and csv_steps(dash.stdout) == list(range(1, 31))
    if os.path.exists("/dev/stdout"):
        by_name = export(tmp_path, "/dev/stdout")  # the pipe run_cli reads: streamed into it
        assert by_name.returncode == 0, by_name.stderr
        assert by_name.stdout == dash.stdout


def test_a_fifo_is_streamed_into(tmp_path, sessions):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))  # blocks until the writer opens it
    reader.start()
    r = export(tmp_path, str(fifo))
    reader.join(timeout=120)
    assert r.returncode == 0, r.stderr
    assert csv_steps(got[0].decode()) == list(range(1, 31))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_file_is_replaced_keeping_its_mode_and_owner(tmp_path, sessions):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    os.chmod(out, 0o644)
    owner = (os.stat(out).st_uid, os.stat(out).st_gid)
    if os.geteuid() == 0:
        os.chown(out, 4321, 4322)  # another user's file, exported into by root
        owner = (4321, 4322)
    r = export(tmp_path, str(out))
    assert r.returncode == 0, r.stderr
    st = os.stat(out)
    assert stat.S_IMODE(st.st_mode) == 0o644 and (st.st_uid, st.st_gid) == owner
    assert csv_steps(out.read_text()) == list(range(1, 31))
    assert f"in {out}" in r.stderr


def test_a_new_file_gets_the_umask_mode(tmp_path, sessions):
    out = tmp_path / "new.csv"
    r = run_cli("export", "h", "--sessions-dir", str(sessions), "--csv", str(out))
    assert r.returncode == 0, r.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o666 & ~umask


def test_a_symbolic_link_is_written_through_to_its_target(tmp_path, sessions):
    target, link = tmp_path / "target.csv", tmp_path / "link.csv"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    link.symlink_to(target.name)
    r = export(tmp_path, str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == target.name
    assert csv_steps(target.read_text()) == list(range(1, 31)) and stat.S_IMODE(os.stat(target).st_mode) == 0o640

    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "made.csv")
    assert export(tmp_path, str(dangling)).returncode == 0  # its target is made, as a shell's > would
    assert dangling.is_symlink() and csv_steps((tmp_path / "made.csv").read_text()) == list(range(1, 31))

    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    one_line_refusal(export(tmp_path, str(loop)), "loop")
    assert loop.is_symlink()


def test_a_hard_link_stays_one(tmp_path, sessions):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("old\n")
    os.link(first, second)
    inode = os.stat(first).st_ino
    assert output_target(str(first), "--csv").how == IN_PLACE
    r = export(tmp_path, str(first))
    assert r.returncode == 0, r.stderr
    assert os.stat(first).st_ino == os.stat(second).st_ino == inode and os.stat(first).st_nlink == 2
    assert csv_steps(second.read_text()) == list(range(1, 31))


def test_a_folder_a_socket_and_a_block_device_are_refused_and_left_alone(tmp_path, sessions):
    one_line_refusal(export(tmp_path, str(tmp_path)), "is a folder")
    sock_path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    try:
        one_line_refusal(export(tmp_path, str(sock_path)), "is a socket")
        assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    finally:
        server.close()
    block = device_node(tmp_path / "blk", 7, 0, stat.S_IFBLK)  # a loop device's numbers; never opened
    one_line_refusal(export(tmp_path, str(block)), "is a block device")
    assert stat.S_ISBLK(os.lstat(block).st_mode)
    one_line_refusal(export(tmp_path, str(tmp_path / "no" / "x.csv")), "does not exist")
    assert not (tmp_path / "no").exists()


def test_the_rules_as_kinds():
    assert output_target("-", "--csv").how == STDOUT
    assert output_target("-", "the file", dash=False).how != STDOUT  # a form's "-" is a file named "-"
    with pytest.raises(WorkbenchError, match="needs a file name"):
        output_target("  ", "--csv")


def test_the_kinds_of_paths(tmp_path):
    (tmp_path / "f").write_text("x")
    assert output_target(str(tmp_path / "f"), "--csv").how == REPLACE
    assert output_target(str(tmp_path / "g"), "--csv").how == NEW
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    assert output_target(str(fifo), "--csv").how == STREAM


def test_a_tensorboard_folder_must_be_a_folder(tmp_path):
    assert output_folder(str(tmp_path / "new"), "--tensorboard") == (tmp_path / "new").resolve()
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to("real")
    assert output_folder(str(tmp_path / "alias"), "--tensorboard") == (tmp_path / "real").resolve()
    null = device_node(tmp_path / "null", 1, 3)
    with pytest.raises(WorkbenchError, match="not a folder"):
        output_folder(str(null), "--tensorboard")
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    with pytest.raises(WorkbenchError, match="not a folder"):
        output_folder(str(fifo), "--tensorboard")
    assert stat.S_ISCHR(os.lstat(null).st_mode) and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_the_bench_results_file_follows_the_same_rules(tmp_path):
    from argparse import Namespace

    from workbench.bench.report import write_json

    null = device_node(tmp_path / "null", 1, 3)
    write_json(Namespace(json=null), {"figure": 1})
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    out = tmp_path / "r.json"
    out.write_text("{}")
    os.chmod(out, 0o604)
    write_json(Namespace(json=out), {"figure": 2})
    assert json.loads(out.read_text()) == {"figure": 2} and stat.S_IMODE(os.stat(out).st_mode) == 0o604


def test_memory_does_not_grow_with_the_history(tmp_path):
    """A 1 MB and a 100 MB history export within a few MB of each other; a damaged 60 MB line
    is skipped and counted, not held."""
    sessions = tmp_path / "sessions"
    pad = "x" * 10_000  # a newer version's long field: 100 MB in 10,000 records, quick to write
    for name, records in (("one", 100), ("hundred", 10_000)):
        session = Session.create(sessions, name, TrainConfig(corpus="x.txt", device="cpu"), {"name": "x"}, list("ab"))
        with session.metrics_path.open("w") as f:
            for step in range(1, records + 1):
                f.write(json.dumps({"step": step, "train_loss": 1.5, "note": pad}) + "\n")
    damaged = Session.create(sessions, "damaged", TrainConfig(corpus="x.txt", device="cpu"), {"name": "x"}, list("ab"))
    with damaged.metrics_path.open("w") as f:
        f.write(json.dumps({"step": 1, "train_loss": 2.0}) + "\n")
        f.write('{"step": 2, "note": "' + "y" * 60_000_000 + '"}\n')
        f.write(json.dumps({"step": 3, "train_loss": 1.9}) + "\n")

    def peak_kib(name: str) -> tuple[int, str]:
        code = ("import resource, sys\nfrom workbench.cli import main\n"
                f"code = main(['export', {name!r}, '--sessions-dir', {str(sessions)!r}, '--csv', "
                f"{str(tmp_path / (name + '.csv'))!r}])\n"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(code)\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return int(r.stdout.strip().splitlines()[-1]), r.stderr

    small, _ = peak_kib("one")
    large, _ = peak_kib("hundred")
    assert (tmp_path / "hundred.csv").stat().st_size > 100_000_000
    assert large - small < 8 * 1024, (small, large)  # KiB: the old export held ~7x the file
    peak, err = peak_kib("damaged")
    assert peak - small < 16 * 1024, (small, peak)
    assert "1 damaged line of the history skipped" in err, err
    assert csv_steps((tmp_path / "damaged.csv").read_text()) == [1, 3]
