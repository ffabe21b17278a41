"""Loading a session's model for sampling, probing and scoring, on any device.

Checkpoints are saved with tensors on the CPU side of `map_location`, so a session trained
on a GPU loads on a CPU-only machine."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from workbench.engine.sessions.checkpoint import SHAPE_FIELDS, Check, CheckpointError, load_first_good, load_weights, same_model
from workbench.engine.machine.device import describe_device, native_bf16_cpu, resolve_device
from workbench.engine.errors import WorkbenchError
from workbench.engine.infer.quantized import check_quantize, cost_sentence, int8_copy, int8_cost
from workbench.engine.sessions.session import Session
from workbench.engine.machine.threads import LoadProbe, choose_threads
from workbench.models.charrnn import CharRNN, ModelConfig


def resolve_checkpoint(session: Session, which: str) -> list[Path]:
    """Paths to try, in order, for latest / best / a step number."""
    which = str(which)
    if which.isascii() and which.isdigit():  # "²" is a digit to str.isdigit, not to int()
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


PRECISIONS = ("auto", "fp32", "bf16")


def trained_precision(data: dict[str, Any]) -> str:
    """The products a checkpoint's model was trained and validated with: "bf16" or "fp32".
    Checkpoints from before the field say it only when bf16 was asked for by name."""
    precision = data.get("precision")
    if precision in ("bf16", "fp32"):
        return precision
    config = data.get("train_config")
    return "bf16" if isinstance(config, dict) and config.get("precision") == "bf16" else "fp32"


def sampling_dtype(precision: str, trained: str, device: torch.device) -> torch.dtype:
    """bf16 weights for a model trained under bf16 autocast, where bf16 is native (the model as
    it was validated, at half the bytes per character); fp32 otherwise, or when asked."""
    if precision not in PRECISIONS:
        raise WorkbenchError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto" and trained == "bf16" and (device.type == "cuda" or device.type == "cpu" and native_bf16_cpu()):
        return torch.bfloat16
    return torch.float32


def load_model(session: Session, which: str = "latest", device: str = "auto", threads: int | None = None,
               precision: str = "auto", quantize: str | None = None) -> tuple[CharRNN, list[str], dict[str, Any]]:
    """The model of checkpoint `which`; info says which file answered and, under "warnings",
    why the ones tried before it did not (each a sentence naming the file used instead), and
    under "precision" the weights' type (`sampling_dtype`; "int8" with `quantize`, whose cost
    against fp32 is measured then and told in info["quantized"]: engine/infer/quantized.py). On the
    CPU, torch's thread count is `threads`, or (None) the cores the machine has free."""
    load = LoadProbe()  # the machine's load while the checkpoint loads: the thread count
    models: dict[Path, CharRNN] = {}
    session_model = _session_model(session)

    def buildable(data: dict[str, Any], path: Path) -> None:
        if session_model is not None:
            session_model(data, path)
        try:
            model = CharRNN(ModelConfig(**data["model_config"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint {path} describes no model workbench can build ({exc})") from None
        load_weights(model, data, path)
        models[path] = model

    try:
        data, path, errors = load_first_good(resolve_checkpoint(session, which), buildable)
    except CheckpointError as exc:
        raise WorkbenchError(f"session {session.name!r} has no usable {which} checkpoint: {exc}") from None
    dev = resolve_device(device)
    if dev.type == "cpu" and threads is None:
        choose_threads(load)
    elif threads is not None:
        torch.set_num_threads(threads)
    check_quantize(quantize, dev)
    dtype = sampling_dtype("fp32" if quantize else precision, trained_precision(data), dev)
    model = models[path].to(device=dev, dtype=dtype).eval()
    quantized = None
    if quantize:
        model, fp32 = int8_copy(model).eval(), model
        quantized = cost_sentence(int8_cost(session, fp32, model, list(data["vocab"])))
    warnings = [f"{error}; used {path.name} (step {data['step']}) instead" for error in errors]
    info = {"step": data["step"], "which": which, "device": describe_device(dev), "path": str(path),
            "val_loss": data.get("val_loss"), "warnings": warnings,
            "precision": quantize or ("bf16" if dtype == torch.bfloat16 else "fp32"), "trained": trained_precision(data),
            "quantized": quantized}
    return model, list(data["vocab"]), info


def _session_model(session: Session) -> Check | None:
    """The check that a checkpoint holds this session's model, or None when its config or
    vocabulary cannot be read (a checkpoint describes its own model: sampling still works)."""
    try:
        config = session.read_config()
        vocab = session.read_vocab_file()
    except WorkbenchError:
        return None
    return same_model(vocab, {name: getattr(config, name) for name in SHAPE_FIELDS})
