"""A real terminal: the app in tmux, driven with send-keys and read with capture-pane, with a
real trainer process behind it (tiny models, a few seconds each).

Each test runs its own tmux server (`tmux -L wbtest-...`, no config file), so it never
touches the user's; the server and every trainer are ended in the fixture, pass or fail.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from support import run_cli, small_text

from workbench.engine.sessions.session import Session, iter_sessions

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="the real-terminal tests need the tmux binary (apt-get install tmux)")

TINY_UI = ["--hidden", "32", "--layers", "1", "--batch-size", "8", "--seq-length", "20", "--log-every", "1",
           "--eval-every", "50", "--sample-every", "50", "--checkpoint-every", "0", "--steps", "100000",
           "--device", "cpu", "--threads", "1"]
STATE_STEP = re.compile(r"\b(CREATED|STARTING|RUNNING|PAUSING|PAUSED|RESUMING|STOPPING|STOPPED|FINISHED|FAILED)"
                        r"\s+step ([\d,]+)")
TIMEOUT = 20.0


class Tmux:
    """One private tmux server; `new()` starts a command in a detached 100x30 session."""

    def __init__(self, cwd: Path) -> None:
        self.socket = f"wbtest-{uuid.uuid4().hex[:12]}"
        self.cwd = cwd

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True,
                              check=check, timeout=10)

    def new(self, name: str, argv: list[str], size: tuple[int, int] = (100, 30)) -> None:
        # The terminal the issue names; COLUMNS/LINES from the test runner would override the pane's size.
        command = "exec env -u COLUMNS -u LINES TERM=xterm-256color " + shlex.join(argv)
        self("new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), "-c", str(self.cwd), command)

    def screen(self, name: str) -> str:
        result = self("capture-pane", "-p", "-t", f"={name}:", check=False)
        return result.stdout if result.returncode == 0 else ""

    def keys(self, name: str, *keys: str) -> None:
        self("send-keys", "-t", f"={name}:", *keys)

    def alive(self, name: str) -> bool:
        return self("has-session", "-t", f"={name}", check=False).returncode == 0

    def pane_pid(self, name: str) -> int:
        return int(self("display-message", "-p", "-t", f"={name}:", "#{pane_pid}").stdout.strip())

    def kill_server(self) -> None:
        self("kill-server", check=False)
        # tmux leaves its socket file behind when its last session ends by itself
        folder = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (folder / self.socket).unlink(missing_ok=True)


def workbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench", *args]


def wait(predicate, what: str, timeout: float = TIMEOUT, explain=lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{explain()}")
        time.sleep(0.1)


def shown(screen: str) -> tuple[str, int] | None:
    """(state word, step) from the status bar on a captured screen."""
    match = STATE_STEP.search(screen)
    return (match.group(1), int(match.group(2).replace(",", ""))) if match else None


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie nobody has reaped yet is gone too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def term(tmp_path):
    tmux = Tmux(tmp_path)
    try:
        yield tmux
    finally:
        tmux.kill_server()
        for session in iter_sessions(tmp_path / "sessions"):  # no trainer outlives its test
            holder = session.lock_holder()
            pid = int(holder["pid"]) if holder and holder.get("pid") else None
            if pid is None:
                continue
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except OSError:
                    break
                deadline = time.monotonic() + 15
                while not gone(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if gone(pid):
                    break


def start_training(term: Tmux, tmp_path: Path, pane: str) -> Session:
    corpus = small_text(tmp_path)
    sessions = tmp_path / "sessions"
    term.new(pane, workbench("train", "--corpus", str(corpus), "--session", "T", *TINY_UI,
                             "--sessions-dir", str(sessions)))
    wait(lambda: (shown(term.screen(pane)) or ("", 0))[0] == "RUNNING", "RUNNING on screen",
         explain=lambda: term.screen(pane))
    return Session(sessions / "T")


def moving(term: Tmux, pane: str) -> int:
    """Wait until the step on screen advances; returns the later step."""
    first = wait(lambda: shown(term.screen(pane)), "a step on screen", explain=lambda: term.screen(pane))[1]

    def later():
        now = shown(term.screen(pane))
        return now is not None and now[0] == "RUNNING" and now[1] > first and now[1]

    return wait(later, f"the step on screen to move past {first}", explain=lambda: term.screen(pane))


def status_moving(session: Session) -> int:
    first = session.read_status()["step"]
    return wait(lambda: session.read_status()["step"] > first and session.read_status()["step"],
                f"status.json's step to move past {first}")


def test_train_pause_resume_quit_with_stop_and_save(term, tmp_path):
    session = start_training(term, tmp_path, "train")
    moving(term, "train")
    pid = session.read_status()["pid"]
    assert pid and not gone(pid)

    term.keys("train", "p")
    # The key shows at once (PAUSING, before the trainer answers); the budget is 100 ms, measured
    # at 20-60 ms here: 1 s leaves room for a loaded machine.
    wait(lambda: (shown(term.screen("train")) or ("",))[0] in ("PAUSING", "PAUSED"), "PAUSING on screen",
         timeout=1.0, explain=lambda: term.screen("train"))
    wait(lambda: (shown(term.screen("train")) or ("",))[0] == "PAUSED", "PAUSED on screen",
         explain=lambda: term.screen("train"))
    still = shown(term.screen("train"))[1]
    on_disk = session.read_status()["step"]
    time.sleep(1.0)  # nothing may move for a while: a fixed wait is the point here
    assert shown(term.screen("train")) == ("PAUSED", still)
    assert session.read_status()["step"] == on_disk and session.read_status()["state"] == "paused"

    term.keys("train", "p")
    moving(term, "train")

    term.keys("train", "q")
    wait(lambda: "Quit how?" in term.screen("train"), "the quit question", explain=lambda: term.screen("train"))
    term.keys("train", "s")
    wait(lambda: gone(pid), "the trainer process to end")
    wait(lambda: not term.alive("train"), "the app to exit")
    status = session.read_status()
    assert status["state"] == "stopped", status
    assert session.lock_holder() is None
    assert session.checkpoint_path("latest").exists()


def test_detach_attach_and_hangup_keep_training(term, tmp_path):
    session = start_training(term, tmp_path, "train")
    moving(term, "train")
    pid = session.read_status()["pid"]

    # d: the app exits and the pane's command with it; the trainer goes on.
    term.keys("train", "d")
    wait(lambda: not term.alive("train"), "the app to exit on d")
    status_moving(session)
    assert session.read_status()["pid"] == pid and session.read_status()["state"] == "running"

    # attach in a new terminal: the history (events from before) and live updates.
    sessions = str(tmp_path / "sessions")
    term.new("watch", workbench("attach", "T", "--sessions-dir", sessions))
    wait(lambda: "started at step 0" in term.screen("watch"), "the history in the event log",
         explain=lambda: term.screen("watch"))
    assert "waiting for the first steps" not in term.screen("watch")
    moving(term, "watch")
    app_pid = term.pane_pid("watch")

    # The terminal goes away (the app receives SIGHUP): training continues.
    term("kill-session", "-t", "=watch")
    wait(lambda: gone(app_pid), "the attached app to exit on SIGHUP")
    status_moving(session)
    rows = json.loads(run_cli("ps", "--json", "--sessions-dir", sessions).stdout)
    assert [(r["session"], r["pid"], r["state"]) for r in rows] == [("T", pid, "running")]

    r = run_cli("stop", "T", "--sessions-dir", sessions, timeout=60)
    assert r.returncode == 0, r.stderr
    assert session.read_status()["state"] == "stopped"
    wait(lambda: gone(pid), "the trainer process to exit")  # `stop` returns when its lock is free


def test_at_80x24_every_key_can_be_found_and_d_goes_back_to_the_list(term, tmp_path):
    """From the home screen: open a training session, `?` lists every key (the footer has no
    room for all of them), `d` goes back to the list while the training goes on."""
    corpus = small_text(tmp_path)
    sessions = tmp_path / "sessions"
    r = run_cli("train", "--corpus", str(corpus), "--session", "T", *TINY_UI, "--sessions-dir", str(sessions),
                "--detach", timeout=60)
    assert r.returncode == 0, r.stderr
    session = Session(sessions / "T")
    wait(lambda: session.read_status().get("state") == "running", "the trainer running")
    term.new("home", workbench("--sessions-dir", str(sessions)), size=(80, 24))
    wait(lambda: "FINISHED" in term.screen("home") or "RUNNING" in term.screen("home"), "the list",
         explain=lambda: term.screen("home"))
    wait(lambda: "? Keys" in term.screen("home"), "the footer", explain=lambda: term.screen("home"))
    term.keys("home", "Enter")
    moving(term, "home")
    wait(lambda: "? Keys" in term.screen("home") and "best full val" in term.screen("home"), "the footer",
         explain=lambda: term.screen("home"))
    term.keys("home", "?")
    wait(lambda: "Keys of the training screen" in term.screen("home"), "the keys", explain=lambda: term.screen("home"))
    assert "Show or hide the event log" in term.screen("home")
    term.keys("home", "Escape")
    wait(lambda: "Keys of the training screen" not in term.screen("home"), "the keys closed")
    term.keys("home", "d")
    # the list again, with the note that says how to watch it again: a toast, shown for a few
    # seconds, whose lines wrap anywhere (where the pid's digits put them) between its border
    # glyphs, so only the letters are compared; both looked for in the same screen
    wait(lambda: "sessions in" in term.screen("home") and term.alive("home")
         and "workbenchattachT" in re.sub(r"[^\w`]", "", term.screen("home")), "the list again and the note",
         explain=lambda: term.screen("home"))
    status_moving(session)  # training goes on
