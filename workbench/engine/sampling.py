"""Drawing text from a model: top-k, top-p and temperature, several samples in one batch,
streamed as it is produced. Everything stays on the model's device; the only host
transfer is the handful of new character ids each step (batched on CUDA)."""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from workbench.engine.config import SampleSettings
from workbench.engine.corpus import encode_text


def filter_logits(logits: Tensor, top_k: int | None, top_p: float | None, temperature: float) -> Tensor:
    """Logits (N, V) with everything outside the top-k / top-p set at -inf."""
    logits = logits.float() / temperature
    vocab = logits.shape[-1]
    if top_k and top_k < vocab:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the mass before it already reaches p (the first always stays)
        drop_sorted = (torch.cumsum(probs, dim=-1) - probs) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_stream(
    model: "torch.nn.Module",
    vocab: list[str],
    settings: SampleSettings,
    *,
    num: int = 1,
    seed: int | None = None,
    chunk: int | None = None,
) -> Iterator[list[str]]:
    """Yields, step after step, a list of `num` new strings (one per sample; usually one
    character each, `chunk` characters each on accelerators to avoid a sync per character).
    The prime is not repeated. The model is switched to eval mode for the duration."""
    device = next(model.parameters()).device
    prime_ids = torch.as_tensor(encode_text(settings.prime, vocab).astype("int64"), device=device)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
    chunk = chunk or (1 if device.type == "cpu" else 32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            hidden = model.init_hidden(num, device)
            logits, hidden = model(prime_ids.unsqueeze(0).expand(num, -1), hidden)
            logits = logits[:, -1]
            step = model.step
            if device.type == "cpu" and model.config.cell == "lstm":
                from workbench.models.stepper import PackedLSTM

                step = PackedLSTM(model).step
            pending: list[Tensor] = []
            for produced in range(1, settings.length + 1):
                ids = _draw(logits, settings, generator)
                pending.append(ids)
                if len(pending) >= chunk or produced == settings.length:
                    block = torch.stack(pending, dim=1).tolist()  # one host copy per chunk
                    pending = []
                    yield ["".join(vocab[i] for i in row) for row in block]
                if produced < settings.length:
                    logits, hidden = step(ids, hidden)
    finally:
        model.train(was_training)


def _draw(logits: Tensor, settings: SampleSettings, generator: torch.Generator) -> Tensor:
    """One id per row. Plain top-k (the common case) draws among the k candidates only,
    which is cheaper than masking the whole vocabulary."""
    if settings.top_p is None and settings.top_k and settings.top_k < logits.shape[-1]:
        values, candidates = torch.topk(logits.float(), settings.top_k, dim=-1)
        probs = torch.softmax(values / settings.temperature, dim=-1)
        choice = torch.multinomial(probs, 1, generator=generator)
        return candidates.gather(1, choice).squeeze(1)
    probs = torch.softmax(filter_logits(logits, settings.top_k, settings.top_p, settings.temperature), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def generate(model: "torch.nn.Module", vocab: list[str], settings: SampleSettings, *, num: int = 1, seed: int | None = None) -> list[str]:
    """`num` finished samples, each prime + generated text."""
    parts: list[list[str]] = [[settings.prime] for _ in range(num)]
    for pieces in sample_stream(model, vocab, settings, num=num, seed=seed):
        for acc, piece in zip(parts, pieces):
            acc.append(piece)
    return ["".join(p) for p in parts]
