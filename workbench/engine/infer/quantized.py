"""`--quantize int8`: a weight-only int8 copy of a session's model for sampling on the CPU, and
what it costs, measured on the spot so the user chooses with numbers: bits/char against fp32 on
the start of the session's validation text, and chars/s of one stream against fp32, both on
this machine now (models/int8.py has the arithmetic)."""
from __future__ import annotations

import copy
import time
from typing import Any

import torch

from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import Session
from workbench.models.int8 import quantize_int8
from workbench.models.cpu_stepper import CpuStepper

QUANTIZE = ("int8",)
COST_CHARS = 10_000
"""Validation characters scored by both models: the difference is paired (same characters), so
10,000 give it to about a thousandth of a bit, in a second or two at 512x2 on 2 cores."""
RATE_CHARS = 800


def check_quantize(quantize: str | None, device: torch.device) -> None:
    """Any cell (LSTM, GRU, RNN): the stepper's stacked products are the same for all."""
    if quantize is None:
        return
    if quantize not in QUANTIZE:
        raise WorkbenchError(f"--quantize must be int8, got {quantize!r}")
    if device.type != "cpu":
        raise WorkbenchError(f"--quantize int8 runs on the CPU only (the model is on {device}); add --device cpu")


def int8_copy(model: "torch.nn.Module") -> "torch.nn.Module":
    """The model with its weight matrices rounded to int8; `model.int8` holds the packed form
    the sampler steps with (engine/infer/sampling.py)."""
    rounded = copy.deepcopy(model).float()
    rounded.int8 = quantize_int8(rounded)
    return rounded


def int8_cost(session: Session, fp32: "torch.nn.Module", int8: "torch.nn.Module", vocab: list[str]) -> dict[str, Any]:
    """{"bits_fp32", "bits_int8", "chars", "rate_fp32", "rate_int8"}; the bits are None (with
    "why") when the session's text is not at hand to take its validation part from."""
    figures: dict[str, Any] = {"rate_fp32": 0.0, "rate_int8": 0.0}
    for _ in range(2):  # alternated, the best of two each: a moment's load hits both alike
        figures["rate_fp32"] = max(figures["rate_fp32"], _rate(fp32, None))
        figures["rate_int8"] = max(figures["rate_int8"], _rate(int8, int8.int8))
    text, why = _validation_start(session, vocab)
    figures.update(bits_fp32=None, bits_int8=None, chars=0, why=why)
    if text is not None:
        from workbench.engine.infer.probe import score_text

        figures.update(bits_fp32=score_text(fp32, vocab, text).mean_bits, bits_int8=score_text(int8, vocab, text).mean_bits,
                       chars=len(text))
    return figures


def cost_sentence(figures: dict[str, Any]) -> str:
    """'int8 weights: 4,812 chars/s against 2,431 in fp32 (1.98x) for one stream here; +0.0123
    bits/char against fp32 on the first 10,000 characters of the validation text'."""
    speed = (f"int8 weights: {figures['rate_int8']:,.0f} chars/s against {figures['rate_fp32']:,.0f} in fp32 "
             f"({figures['rate_int8'] / figures['rate_fp32']:.2f}x) for one stream here")
    if figures["bits_int8"] is None:
        return f"{speed}; its cost in bits/char is not measured ({figures['why']})"
    diff = figures["bits_int8"] - figures["bits_fp32"]
    return (f"{speed}; {diff:+.4f} bits/char against fp32 ({figures['bits_fp32']:.4f}) on the first "
            f"{figures['chars']:,} characters of the validation text")


def _rate(model: "torch.nn.Module", packed: Any) -> float:
    """chars/s of the bare per-character step, one stream (as the sampler steps it), after a
    short warm-up."""
    stepper = CpuStepper(model, model.init_hidden(1), packed)
    with torch.inference_mode():
        for i in range(30):
            stepper.step_one(i % model.config.vocab_size)
        t0 = time.perf_counter()
        for i in range(RATE_CHARS):
            stepper.step_one(i % model.config.vocab_size)
    return RATE_CHARS / (time.perf_counter() - t0)


def _validation_start(session: Session, vocab: list[str]) -> tuple[str | None, str]:
    """The first COST_CHARS characters of the session's validation part, or None and why not."""
    from workbench.engine.sessions.text import load_session_text

    try:
        config = session.read_config()
        corpus = load_session_text(session, config)
    except WorkbenchError as exc:
        return None, f"its text: {exc}"
    if corpus.vocab != vocab:
        return None, "its text no longer has the characters the model was trained on"
    _, val = corpus.split(config.val_frac)
    return corpus.decode(val[:COST_CHARS]), ""
