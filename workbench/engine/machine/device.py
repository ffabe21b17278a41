"""Choosing the torch device: auto means cuda, then mps, then cpu."""
from __future__ import annotations

import functools

import torch

from workbench.engine.errors import WorkbenchError
from workbench.engine.formats import threads_text


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        _, _, number = name.partition(":")
        if number and not (number.isascii() and number.isdigit()):
            raise WorkbenchError(f"--device {name}: the CUDA device number must be a whole number, as in cuda:1")
        if not torch.cuda.is_available():
            raise WorkbenchError(f"--device {name}: no CUDA GPU is available here; use --device cpu or auto")
        index = int(number) if number else 0
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
        return f"cpu ({threads_text(torch.get_num_threads())})"
    return str(device)


@functools.cache  # the CPU does not change while we run
def native_bf16_cpu() -> bool:
    """Whether this CPU does bfloat16 arithmetic in hardware (AVX512-BF16 or AMX), where
    oneDNN's bf16 kernels run about twice the fp32 rate. Elsewhere bf16 is emulated."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in checks:
        check = getattr(torch.cpu, name, None)  # private helpers, present since torch 2.1
        try:
            if check is not None and check():
                return True
        except Exception:  # a helper that changed shape must not stop training
            continue
    return False


# Below this width the matrix products are too small for bf16 to pay for its casts: measured
# on an AVX512-BF16 CPU, bf16/fp32 training speed was 0.83x at 32 units, 1.38x at 128, 1.52x
# at 256 and 1.64x at 512 (with the same validation loss after 200 steps at 512x2).
AUTO_BF16_MIN_HIDDEN = 128


def resolve_precision(precision: str, device: torch.device, hidden: int = AUTO_BF16_MIN_HIDDEN) -> torch.dtype | None:
    """The autocast dtype for a configured precision on a device (None: plain fp32)."""
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto" and device.type == "cpu" and hidden >= AUTO_BF16_MIN_HIDDEN and native_bf16_cpu():
        return torch.bfloat16
    return None


def precision_name(autocast_dtype: torch.dtype | None) -> str:
    """How a resolved precision is shown: "bf16" or "fp32"."""
    return "bf16" if autocast_dtype == torch.bfloat16 else "fp32"


def precision_warning(precision: str, device: torch.device) -> str | None:
    """A word for the user when an explicit bf16 request will be slow here."""
    if precision == "bf16" and device.type == "cpu" and not native_bf16_cpu():
        return "this CPU has no native bfloat16 (AVX512-BF16 or AMX): bf16 is emulated and slower than fp32"
    return None
