"""Drawing text from a model: top-k, top-p and temperature, several samples in one batch,
streamed as it is produced. On the CPU the network steps with stacked products into preallocated
buffers (models/cpu_stepper.py) and a single stream picks its character from the top
candidates natively or in plain Python. On accelerators it steps through fused cell calls
(models/stepper.py), everything stays on the device and ids come back in chunks, each replayed
as one CUDA graph on CUDA (engine/infer/chunk_sampling.py)."""
from __future__ import annotations

import functools
import math
import operator
import random
import time
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from workbench.engine.infer.chunk_sampling import ChunkSampler, stream_in_chunks
from workbench.engine.config import SampleSettings
from workbench.engine.corpus.encode import encode_text
from workbench.engine.errors import WorkbenchError
from workbench.engine.infer.sample_filter import filter_logits
from workbench.models.cpu_stepper import CpuStepper, native_step_module
from workbench.models.stepper import CharStepper



def sample_stream(
    model: "torch.nn.Module",
    vocab: list[str],
    settings: SampleSettings,
    *,
    num: int = 1,
    seed: int | None = None,
    cuda_graph: bool = True,
) -> Iterator[list[str]]:
    """Yields, step after step, a list of `num` new strings (one per sample; one character
    each on the CPU, ACCELERATOR_CHUNK characters each on accelerators to avoid a sync per
    character; on CUDA each chunk is one graph replay unless `cuda_graph` is false).
    The prime is not repeated. The model is switched to eval mode for the duration."""
    device = next(model.parameters()).device
    prime_ids = torch.as_tensor(encode_text(settings.prime, vocab).astype("int64"), device=device)
    seed = int(seed) if seed is not None else int(torch.randint(0, 2**62, (1,)).item())
    was_training = model.training
    model.eval()
    try:
        # No grad mode is held across a yield: it is thread-local, so it would leak into the
        # caller while the stream waits, and streams interleaved in one thread would end each
        # other's (the first to close switches it off under the other).
        with torch.inference_mode():
            # The prime read once at batch 1 and its state copied to every stream: a long prime
            # costs the same for 100 samples as for one (no num x prime x vocab tensor).
            logits, hidden = model.read(prime_ids, model.init_hidden(1, device))
            logits = logits.expand(num, -1)
            hidden = tuple(h.expand(-1, num, -1).contiguous() for h in hidden)
        if device.type == "cpu":
            # ordinary tensors, none needing a gradient: the steps write them in place with no
            # mode at all (entering inference mode each character would cost 2 us of it)
            with torch.no_grad():
                stepper = _stepper(model, hidden)
            yield from _stream_on_cpu(stepper, logits, vocab, settings, seed)
        else:
            graph = cuda_graph and device.type == "cuda"
            with torch.inference_mode():
                sampler = ChunkSampler(CharStepper(model, hidden), logits, settings, seed, graph=graph)
            yield from _each_in_inference_mode(stream_in_chunks(sampler, vocab, settings.length))
    finally:
        model.train(was_training)


def _each_in_inference_mode(items: Iterator[list[str]]) -> Iterator[list[str]]:
    """`items`, each computed in inference mode and yielded outside it (a chunk's worth of
    characters a time: the mode's 2 us are nothing there)."""
    while True:
        with torch.inference_mode():
            item = next(items, None)
        if item is None:
            return
        yield item


def _stepper(model: "torch.nn.Module", hidden: tuple[Tensor, ...]) -> CpuStepper:
    """The per-character step on the CPU, with int8 weights when the model was quantized
    (engine/infer/quantized.py)."""
    return CpuStepper(model, hidden, getattr(model, "int8", None))


def _stream_on_cpu(stepper: CpuStepper, logits: Tensor, vocab: list[str], settings: SampleSettings,
                   seed: int) -> Iterator[list[str]]:
    """One character per step. A single stream draws from the few candidates natively or in
    plain Python (`_one_stream_draw`: a handful of floats, cheaper than five tensor
    operations), several streams in one batch draw with torch."""
    if logits.shape[0] == 1:
        rng = random.Random(seed)
        row = logits[0].contiguous()
        draw = _one_stream_draw(row, settings)
        for produced in range(1, settings.length + 1):
            char = draw(row, rng)
            yield [vocab[char]]
            if produced < settings.length:
                row = stepper.step_one(char)
        return
    generator = torch.Generator().manual_seed(seed)
    for produced in range(1, settings.length + 1):
        ids = _draw(logits, settings, generator)
        yield [vocab[i] for i in ids.tolist()]
        if produced < settings.length:
            logits = stepper.step(ids)


def _draw(logits: Tensor, settings: SampleSettings, generator: torch.Generator) -> Tensor:
    """One id per row of logits (N, V). Plain top-k (the common case) draws among the k
    candidates only, which is cheaper than masking the whole vocabulary."""
    if settings.top_p is None and settings.top_k and settings.top_k < logits.shape[-1]:
        values, candidates = torch.topk(logits.float(), settings.top_k, dim=-1)
        probs = torch.softmax(values / settings.temperature, dim=-1)
        choice = torch.multinomial(probs, 1, generator=generator)
        return candidates.gather(1, choice).squeeze(1)
    probs = torch.softmax(filter_logits(logits, settings.top_k, settings.top_p, settings.temperature), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


NATIVE_DRAW_MAX_K = 64
"""The most candidates the native draw takes (models/fused_step.c); more go through Python."""
DAMAGED = "the model produced non-finite outputs; its weights are damaged: sample another checkpoint"


def _one_stream_draw(row: Tensor, settings: SampleSettings) -> Callable[[Tensor, random.Random], int]:
    """How one stream draws each id from its logits row: natively (models/fused_step.c) where
    that was built, the logits are fp32 and top-k keeps at most NATIVE_DRAW_MAX_K, else
    `_draw_one`. Both are the same rule: the same id for the same logits and uniform draw."""
    native, vocab = native_step_module(), row.shape[0]
    k = _candidates(vocab, settings)
    if native is None or row.dtype != torch.float32 or k > NATIVE_DRAW_MAX_K:
        return lambda logits, rng: _draw_one(logits, settings, rng)
    top_p = settings.top_p if settings.top_p is not None else 1.0

    def draw(logits: Tensor, rng: random.Random) -> int:
        char = native.draw(logits.data_ptr(), vocab, k, settings.temperature, top_p, rng.random())
        if char < 0:
            raise WorkbenchError(DAMAGED)
        return char

    return draw


def _candidates(vocab: int, settings: SampleSettings) -> int:
    return settings.top_k if settings.top_k and settings.top_k < vocab else vocab


def _draw_one(logits: Tensor, settings: SampleSettings, rng: random.Random) -> int:
    """One id from logits (V,), by the same rule as `filter_logits`: temperature, top-k, then
    top-p over what is left. Sums run left to right (not Python's `sum`, compensated from 3.12
    on), as the native draw does them."""
    values, candidates = torch.topk(logits, _candidates(logits.shape[0], settings))  # sorted, most likely first
    values, candidates = values.tolist(), candidates.tolist()
    best = values[0]
    if not math.isfinite(best):
        raise WorkbenchError(DAMAGED)
    weights = [math.exp((v - best) / settings.temperature) for v in values]
    if settings.top_p is not None and settings.top_p < 1.0:
        # keep a candidate while the mass before it is still short of p (the first always stays)
        total, before, kept = _sum(weights), 0.0, 0
        while kept < len(weights) and before < settings.top_p * total:
            before += weights[kept]
            kept += 1
        weights = weights[:kept]
    point = rng.random() * _sum(weights)
    for index, weight in enumerate(weights):
        point -= weight
        if point < 0.0:
            return candidates[index]
    return candidates[len(weights) - 1]  # rounding left the point at the very end


def _sum(values: list[float]) -> float:
    return functools.reduce(operator.add, values, 0.0)


STOP_CHECK_CHARS = 64  # how often generate() asks whether to stop early


def generate(model: "torch.nn.Module", vocab: list[str], settings: SampleSettings, *, num: int = 1,
             seed: int | None = None, stop: Callable[[], bool] | None = None) -> list[str]:
    """`num` samples, each prime + generated text; cut short (fewer than `settings.length`
    characters) when `stop()` turns true, which is asked every STOP_CHECK_CHARS characters."""
    parts: list[list[str]] = [[settings.prime] for _ in range(num)]
    stream = sample_stream(model, vocab, settings, num=num, seed=seed)
    try:
        for index, pieces in enumerate(stream):
            for acc, piece in zip(parts, pieces):
                acc.append(piece)
            if stop is not None and index % STOP_CHECK_CHARS == STOP_CHECK_CHARS - 1 and stop():
                break
    finally:
        stream.close()
    return ["".join(p) for p in parts]


def training_sample(model: "torch.nn.Module", vocab: list[str], settings: SampleSettings, *, step: int, seed: int,
                    stop: Callable[[], bool]) -> dict[str, Any]:
    """The sample a trainer draws at `step`, as samples.jsonl records it ("interrupted": true
    when `stop` cut it short). Its own generator, seeded from (seed, step): drawing a sample
    never moves the training RNG, so a run with extra samples trains exactly like one without."""
    text = generate(model, vocab, settings, seed=seed * 1_000_003 + step, stop=stop)[0]
    record = {"step": step, "time": time.time(), "text": text, "prime": settings.prime,
              "temperature": settings.temperature, "top_k": settings.top_k, "top_p": settings.top_p,
              "length": settings.length}
    return {**record, "interrupted": True} if len(text) - len(settings.prime) < settings.length else record
