"""Whether a model can be trained in the memory there is, told before anything is allocated:
a `--hidden 100000` must be a one-line refusal, not minutes of swapping and a kill by the
kernel. Torch-free (the new-session check runs before torch is imported); the estimate is
rough but errs low, so a model that fits is never refused."""
from __future__ import annotations

from pathlib import Path

from workbench.engine.machine.cgroup import cgroup_value
from workbench.engine.config import TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.formats import human_bytes
from workbench.models.cells import GATES, count_parameters

FP32 = 4
STATE_COPIES = 4
"""fp32 copies of every parameter while training: the weights, their gradients and Adam's two moments."""


def training_bytes(config: TrainConfig, vocab_size: int) -> int:
    """At least what one training step of this model holds (in all, for a group of
    `config.processes`): the parameters' copies, and the activations kept for the backward pass (each layer's gates and states at every position
    of the batch, the one-hot inputs and the logits with their gradient)."""
    params = count_parameters(vocab_size, config.cell, config.hidden, config.layers)
    positions = config.batch_size * config.seq_length  # a group splits them; each process has every parameter
    per_position = config.layers * config.hidden * (GATES[config.cell] + 2) + 3 * vocab_size
    return FP32 * (STATE_COPIES * params * config.processes + positions * per_position)


def available_cpu_bytes() -> int | None:
    """Memory this process can still take: the kernel's MemAvailable, or less when a cgroup
    (a container, a systemd slice) limits it. None when neither can be read."""
    free = _meminfo_available()
    limit = _cgroup_room()
    known = [value for value in (free, limit) if value is not None]
    return min(known) if known else None


def check_fits_memory(config: TrainConfig, vocab_size: int, available: int | None, where: str) -> None:
    """A one-line error when the model cannot train in `available` bytes (of `where`)."""
    if available is None:
        return
    needed = training_bytes(config, vocab_size)
    if needed <= available:
        return
    params = count_parameters(vocab_size, config.cell, config.hidden, config.layers)
    raise WorkbenchError(
        f"a {config.cell} {config.hidden}x{config.layers} model ({params:,} parameters) at batch "
        f"{config.batch_size} x {config.seq_length} needs at least {human_bytes(needed)} to train and {where} has "
        f"{human_bytes(available)} free; make --hidden, --layers, --batch-size or --seq-length smaller")


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """cgroup v2: memory.max less memory.current ("max": no limit)."""
    limit, current = cgroup_value("memory.max"), cgroup_value("memory.current")
    if limit in (None, "max") or current is None:
        return None
    try:
        return max(0, int(limit) - int(current))
    except ValueError:
        return None


def cpu_memory_check(config: TrainConfig, vocab_size: int) -> None:
    """check_fits_memory against this machine's memory, for a run on the CPU."""
    check_fits_memory(config, vocab_size, available_cpu_bytes(), "this machine")

