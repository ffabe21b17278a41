"""Loading a session's model for sampling, on any device.

Checkpoints are saved with tensors on the CPU side of `map_location`, so a session trained
on a GPU loads on a CPU-only machine."""
from __future__ import annotations

from typing import Any

import torch

from workbench.engine.checkpoint import CheckpointError, load_checkpoint
from workbench.engine.device import describe_device, resolve_device
from workbench.engine.errors import WorkbenchError
from workbench.engine.session import Session
from workbench.models import CharRNN, ModelConfig


def resolve_checkpoint(session: Session, which: str) -> list:
    """Paths to try, in order, for latest / best / a step number."""
    which = str(which)
    if which.isdigit():
        path = session.checkpoint_path(int(which))
        if not path.exists():
            kept = ", ".join(str(s) for s, _ in session.step_checkpoints()) or "none"
            raise WorkbenchError(f"session {session.name!r} has no checkpoint at step {which} (kept steps: {kept})")
        return [path]
    if which not in ("latest", "best"):
        raise WorkbenchError(f"--checkpoint must be latest, best or a step number, got {which!r}")
    primary = session.checkpoint_path(which)
    fallbacks = [p for _, p in reversed(session.step_checkpoints())] if which == "latest" else []
    paths = [p for p in [primary, *fallbacks] if p.exists()]
    if not paths:
        raise WorkbenchError(f"session {session.name!r} has no {which} checkpoint yet; train it first")
    return paths


def load_model(session: Session, which: str = "latest", device: str = "auto") -> tuple[CharRNN, list[str], dict[str, Any]]:
    errors = []
    for path in resolve_checkpoint(session, which):
        try:
            data = load_checkpoint(path)
            break
        except CheckpointError as exc:
            errors.append(str(exc))
    else:
        raise WorkbenchError("; ".join(errors))
    dev = resolve_device(device)
    model = CharRNN(ModelConfig(**data["model_config"]))
    model.load_state_dict(data["model"])
    model.to(dev).eval()
    info = {"step": data["step"], "which": which, "device": describe_device(dev), "path": str(path),
            "val_loss": data.get("val_loss"), "warnings": errors}
    return model, list(data["vocab"]), info
