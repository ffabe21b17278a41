"""Loading a session's model for sampling, probing and scoring, on any device.

Checkpoints are saved with tensors on the CPU side of `map_location`, so a session trained
on a GPU loads on a CPU-only machine."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.engine.checkpoint import load_first_good
from workbench.engine.device import describe_device, resolve_device
from workbench.engine.errors import WorkbenchError
from workbench.engine.session import Session
from workbench.models.charrnn import CharRNN, ModelConfig


def resolve_checkpoint(session: Session, which: str) -> list[Path]:
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
    best = session.checkpoint_path("best")
    paths = session.restore_candidates() if which == "latest" else [best] if best.exists() else []
    if not paths:
        raise WorkbenchError(f"session {session.name!r} has no {which} checkpoint yet; train it first")
    return paths


def load_model(session: Session, which: str = "latest", device: str = "auto") -> tuple[CharRNN, list[str], dict[str, Any]]:
    data, path, errors = load_first_good(resolve_checkpoint(session, which))
    dev = resolve_device(device)
    model = CharRNN(ModelConfig(**data["model_config"]))
    model.load_state_dict(data["model"])
    model.to(dev).eval()
    info = {"step": data["step"], "which": which, "device": describe_device(dev), "path": str(path),
            "val_loss": data.get("val_loss"), "warnings": errors}
    return model, list(data["vocab"]), info

