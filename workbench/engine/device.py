"""Choosing the torch device: auto means cuda, then mps, then cpu."""
from __future__ import annotations

import torch

from workbench.engine.errors import WorkbenchError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise WorkbenchError(f"--device {name}: no CUDA GPU is available here; use --device cpu or auto")
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise WorkbenchError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
        return torch.device(name)
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise WorkbenchError("--device mps: Apple's Metal backend is not available here; use --device cpu or auto")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise WorkbenchError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
