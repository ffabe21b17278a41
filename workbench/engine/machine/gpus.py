"""How many GPUs this process may use, told without importing torch (the new-session form
asks it as it opens): NVIDIA's driver lists one folder per GPU in /proc, and
CUDA_VISIBLE_DEVICES, when set, narrows them."""
from __future__ import annotations

import os
from pathlib import Path

_DRIVER = Path("/proc/driver/nvidia/gpus")


def visible_gpus() -> int:
    try:
        installed = sum(1 for _ in _DRIVER.iterdir())
    except OSError:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return installed
    chosen = [part for part in visible.split(",") if part.strip() and part.strip() != "-1"]
    return min(installed, len(chosen))


def process_choices() -> list[tuple[str, int]]:
    """What the form offers for the number of processes: one per GPU up to every visible GPU,
    or on a machine without one, up to one CPU process per core (at most 8)."""
    gpus = visible_gpus()
    if gpus:
        return [(f"{n} (one per GPU, every one)" if n == gpus and n > 1 else
                 f"{n} (one per GPU)" if n > 1 else "1", n) for n in range(1, gpus + 1)]
    cores = min(os.cpu_count() or 1, 8)
    return [("1", 1)] + [(f"{n} CPU processes (gloo)", n) for n in range(2, cores + 1)]
