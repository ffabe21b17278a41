"""How many CPU threads torch computes with, chosen from the cores other processes leave free.

With as many compute threads as cores, every parallel region of every time step waits for the
thread the scheduler has just given to someone else: on a 2-core machine one busy neighbour
left today's default 35% of its speed, where one thread keeps about 70%. So by default
(`--threads auto`) a run takes the cores that are free: the CPU time this machine's cores spent
on work other than ours, measured over the last few seconds (/proc/stat against our own
os.times()), is what is taken. It is measured again every few seconds of training, so a run
gives a core back when a neighbour starts and takes it again when it ends. An explicit
`--threads N` is always honoured.

Changing the count never changes the numbers: torch's CPU kernels split work across threads
by rows, so the losses are the same to the bit (tests/test_threads.py holds it to that).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.engine.machine.cgroup import cgroup_value

RECHECK_SECONDS = 5.0
"""How often a running trainer looks at the machine again."""
FREE_FRACTION = 0.5
"""A core counts as free when others use less than this much of it."""
PROBE_SECONDS = 0.3
"""The first look, before a run starts: short, and taken while it loads."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which taskset, cpusets and
    containers narrow) and, under a cgroup CPU quota, no more than the quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, math.ceil(quota)) if quota else cores)


def threads_for(others_busy: float, cores: int) -> int:
    """The thread count for `cores` of which others keep `others_busy` (in cores) busy: one per
    core they leave at least FREE_FRACTION free, and never fewer than one."""
    free = cores - others_busy
    return max(1, min(cores, math.floor(free + FREE_FRACTION)))


@dataclass
class _Sample:
    wall: float
    busy: float
    """Seconds of CPU time spent on the usable cores by every process (ours included)."""
    ours: float
    """Seconds of CPU time this process spent (all its threads)."""


class LoadProbe:
    """Cores kept busy by other processes since the last reading."""

    def __init__(self) -> None:
        self._cpus = _usable_cpu_ids()
        self._last = self._sample()

    def seconds(self) -> float:
        """Since the last reading."""
        return time.monotonic() - self._last.wall if self._last is not None else 0.0

    def others_busy(self) -> float | None:
        """Busy cores, on average, not counting this process, since the last call (or since the
        probe was made); None where the kernel does not say (no /proc/stat)."""
        now = self._sample()
        last, self._last = self._last, now
        if now is None or last is None or now.wall <= last.wall:
            return None
        others = (now.busy - last.busy) - (now.ours - last.ours)
        return max(0.0, others / (now.wall - last.wall))

    def _sample(self) -> _Sample | None:
        busy = _busy_seconds(self._cpus)
        if busy is None:
            return None
        times = os.times()
        return _Sample(time.monotonic(), busy, times.user + times.system)


def choose_threads(probe: LoadProbe, cores: int | None = None, *, wait: bool = True) -> int:
    """Set torch's thread count from the load `probe` saw since its last reading and return it.
    A look shorter than PROBE_SECONDS is mostly noise: it is waited out, or (`wait` false) the
    count is left as it is. For one task (a model loaded to sample or score, a run about to
    start), where ThreadGovernor follows a long run."""
    import torch

    cores = cores or usable_cores()
    if probe.seconds() < PROBE_SECONDS and not wait:
        return torch.get_num_threads()
    time.sleep(max(0.0, PROBE_SECONDS - probe.seconds()))
    others = probe.others_busy()
    threads = threads_for(others, cores) if others is not None else cores
    torch.set_num_threads(threads)
    return threads


class ThreadGovernor:
    """Sets torch's thread count from the load, at the start and every RECHECK_SECONDS after. A
    count goes down at the first reading that asks for it (a neighbour costs much more than a
    spare core), and up only when two readings in a row agree (a short burst does not make it
    flap)."""

    def __init__(self, probe: LoadProbe, cores: int | None = None) -> None:
        import torch

        self._torch = torch
        self.cores = cores or usable_cores()
        self._probe = probe
        self.threads = choose_threads(probe, self.cores)
        self._next = time.monotonic() + RECHECK_SECONDS
        self._wanted_up = 0

    def tick(self) -> bool:
        """Look again when it is time; True when the thread count changed."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + RECHECK_SECONDS
        others = self._probe.others_busy()
        if others is None:
            return False
        wanted = threads_for(others, self.cores)
        if wanted > self.threads:
            self._wanted_up += 1
            if self._wanted_up < 2:
                return False
        self._wanted_up = 0
        if wanted == self.threads:
            return False
        self.threads = wanted
        self._torch.set_num_threads(wanted)
        return True


def _usable_cpu_ids() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _busy_seconds(cpus: set[int] | None) -> float | None:
    """CPU seconds spent busy so far on the cores in `cpus` (every core when None), by every
    process: /proc/stat's user, nice, system, irq, softirq and steal (idle and iowait left out)."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        values = [int(v) for v in fields[:8]]
        ticks += values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return ticks / os.sysconf("SC_CLK_TCK")


def _cgroup_quota() -> float | None:
    """cgroup v2's cpu.max ("QUOTA PERIOD", or "max PERIOD"), in cores; None without a quota."""
    parts = (cgroup_value("cpu.max") or "max").split()
    try:
        return None if parts[0] == "max" else int(parts[0]) / int(parts[1])
    except (ValueError, IndexError):
        return None
