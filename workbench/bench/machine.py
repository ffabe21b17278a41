"""What machine a figure was measured on: CPU model, cores, memory, torch, the device."""
from __future__ import annotations

import os
import platform
from typing import Any


def machine_info(device: Any) -> dict[str, Any]:
    import numpy
    import torch

    from workbench.engine.machine.device import describe_device

    cpu = _cpu_model()
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    info: dict[str, Any] = {
        "cpu_model": cpu, "cores": cores, "usable_cores": usable, "memory_gib": _memory_gib(),
        "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
        "device": describe_device(device), "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
    where = info.get("gpu") or f"{cpu}, {usable} of {cores} cores"
    mem = f", {info['memory_gib']:.0f} GiB" if info["memory_gib"] else ""
    info["summary"] = (f"{where}{mem}; torch {torch.__version__}, {info['torch_threads']} threads; "
                       f"device {info['device']}; load average {info['load_average'][0]:.2f}")
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None
