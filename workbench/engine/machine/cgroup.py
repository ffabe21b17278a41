"""This process's control group (cgroup v2): the limits a container or a systemd slice puts on
it, which the machine-wide figures (/proc/meminfo, the core count) do not show."""
from __future__ import annotations

from pathlib import Path


def cgroup_value(name: str) -> str | None:
    """The contents of the file `name` (e.g. memory.max, cpu.max) of this process's cgroup,
    stripped; None without cgroup v2 or that file."""
    try:
        line = Path("/proc/self/cgroup").read_text().splitlines()[0]
        group = Path("/sys/fs/cgroup") / line.split("::", 1)[1].lstrip("/")
        return (group / name).read_text().strip()
    except (OSError, IndexError):
        return None
