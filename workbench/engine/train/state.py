"""What a checkpoint holds, and a run restored from one exactly.

A checkpoint is a plain dict of tensors and plain values (checkpoint.py writes and reads the
file): the weights, the optimizer's moments, where the run stands (`RunState`: step, epoch,
position in the data, the best validation loss, what the guards remember), the hidden state
carried across the batches of the epoch, and every random number generator's state (torch,
CUDA, Python, numpy), so that N steps, a checkpoint and a resume to 2N train exactly as 2N
steps in one go.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.engine.sessions.checkpoint import link_atomically, save_checkpoint
from workbench.engine.config import SampleSettings, TrainConfig
from workbench.engine.train.distributed import World
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import Session


@dataclass
class RunState:
    """Where a run stands, beyond its weights: everything an exact resume needs."""

    step: int = 0
    """Steps done in the session (the next step is `step + 1`)."""
    epoch: int = 0
    """Whole epochs done."""
    position: int = 0
    """The next window of the epoch."""
    best_val_loss: float | None = None
    """The best full validation loss so far (nats)."""
    first_loss: float | None = None
    """The first logged training loss: the explosion guard's reference."""
    evals_since_best: int = 0
    """Full validations since the best one: early stopping's count."""
    base_lr: float = 0.001
    """The learning rate the schedule scales (set from the socket or the UI)."""
    sample_settings: SampleSettings = field(default_factory=SampleSettings)
    """How samples are drawn during training (set from the socket or the UI)."""


def capture_rng(device: torch.device) -> dict[str, Any]:
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [v.tolist() if isinstance(v, np.ndarray) else v for v in np.random.get_state()],
    }
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(rng["torch"])
    random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
    np_state = rng["numpy"]
    np.random.set_state((np_state[0], np.asarray(np_state[1], dtype=np.uint32), *np_state[2:]))
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state_all(rng["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds every CUDA device too


def derived_seed(seed: int, step: int, rank: int) -> int:
    """A seed for rank `rank` of a run resumed at `step` on another number of processes."""
    return ((seed * 1_000_003 + step) * 1_000_033 + rank) % 2**63


def checkpoint_payload(*, model: torch.nn.Module, optimizer: torch.optim.Optimizer, vocab: list[str],
                       config: TrainConfig, state: RunState, hidden: tuple[Tensor, ...], rng: list[dict[str, Any]],
                       val_loss: float | None, precision: str = "fp32") -> dict[str, Any]:
    """`hidden` holds every row of the batch; `rng` every rank's generators, in rank order (one
    entry for a single process, which is all that checkpoints before distributed training held);
    `precision` the products it was trained and validated with ("bf16" under autocast), which
    sampling follows by default (engine/infer/inference.py)."""
    extra: dict[str, Any] = {"world_size": len(rng), "rng_ranks": rng} if len(rng) > 1 else {}
    return {
        "model_config": {"vocab_size": len(vocab), "cell": config.cell, "hidden": config.hidden,
                         "layers": config.layers, "dropout": config.dropout},
        "vocab": list(vocab),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": state.step,
        "epoch": state.epoch,
        "position": state.position,
        "hidden": [h.detach().cpu() for h in hidden],
        "rng": rng[0],
        "best_val_loss": state.best_val_loss,
        "val_loss": val_loss,
        "precision": precision,
        "first_loss": state.first_loss,
        "evals_since_best": state.evals_since_best,
        "base_lr": state.base_lr,
        "sample_settings": state.sample_settings.__dict__.copy(),
        "train_config": config.to_dict(),
        "time": time.time(),
        **extra,
    }


def restore_run(data: dict[str, Any], *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, vocab: list[str],
                device: torch.device, session_name: str, world: World,
                seed: int) -> tuple[RunState, tuple[Tensor, ...], str | None]:
    """Load a checkpoint's weights, optimizer and generators into this rank; its state, this
    rank's rows of the hidden state, and a note when the checkpoint was made by another number
    of processes (its rows are split anew and each rank's generators derived from the seed and
    the step, so the run goes on, though not bit for bit as it would have)."""
    if data["vocab"] != vocab:
        raise WorkbenchError(f"checkpoint vocabulary differs from session {session_name!r}'s vocab.json")
    model.load_state_dict(data["model"])
    optimizer.load_state_dict(data["optimizer"])
    state = RunState(
        step=int(data["step"]), epoch=int(data["epoch"]), position=int(data["position"]),
        best_val_loss=data["best_val_loss"], first_loss=data["first_loss"],
        evals_since_best=int(data["evals_since_best"]), base_lr=float(data["base_lr"]),
        sample_settings=SampleSettings(**data["sample_settings"]),
    )
    # fp32 on the way in: a bf16 session's carried state converts exactly, and a session
    # resumed under another precision (another machine) still gets a dtype it accepts.
    rows = world.row_slice(data["hidden"][0].shape[1])
    hidden = tuple(h[:, rows].to(device, torch.float32) for h in data["hidden"])
    saved = int(data.get("world_size", 1))
    if saved == world.size:
        restore_rng(data["rng_ranks"][world.rank] if saved > 1 else data["rng"], device)
        return state, hidden, None
    seed_everything(derived_seed(seed, state.step, world.rank))
    return state, hidden, (f"the checkpoint at step {state.step} was made by {saved} process{'es' if saved > 1 else ''} "
                           f"and this run has {world.size}: the batch's rows are split anew and each process's "
                           "random numbers are derived from the seed and the step, so it goes on from there, "
                           "though not bit for bit as the same number of processes would")


def write_checkpoint(session: Session, payload: dict[str, Any], *, step: int, keep_last: int, best: bool) -> None:
    """The checkpoint files of a step: step-N.pt (latest.pt a link to it) with the last
    `keep_last` step files kept, or latest.pt alone; best.pt a link to it when `best`."""
    if keep_last > 0:
        step_path = session.checkpoint_path(step)
        save_checkpoint(step_path, payload)
        link_atomically(step_path, session.checkpoint_path("latest"))
        session.checkpoints_folder()  # deletes only in the session's own folder
        for _, old in session.step_checkpoints()[:-keep_last]:
            old.unlink(missing_ok=True)
    else:
        save_checkpoint(session.checkpoint_path("latest"), payload)
    if best:
        link_atomically(session.checkpoint_path("latest"), session.checkpoint_path("best"))
