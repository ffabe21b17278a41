"""What the kernel says of a trainer's process, without signalling it: whether it is stopped
(SIGSTOP, or Ctrl-Z in the terminal it runs in). A stopped trainer still holds its lock and
its socket accepts connections, but it answers nothing until it gets SIGCONT: viewers must say
so rather than show it as running with a stale speed."""
from __future__ import annotations

from pathlib import Path


def is_stopped(pid: int | None) -> bool:
    """Whether process `pid` is stopped by a signal (state T in /proc/PID/stat; false for a
    traced one, t, and where there is no /proc)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "PID (command name) STATE ...": the name may hold spaces and parentheses, the state follows the last ")"
    fields = stat[stat.rfind(")") + 1 :].split()
    return bool(fields) and fields[0] == "T"


def stopped_note(pid: int | None) -> str:
    """' (stopped: `kill -CONT PID` lets it go on)' for a stopped process, else ''."""
    return f" (stopped: `kill -CONT {pid}` lets it go on)" if is_stopped(pid) else ""
