"""Sampling on an accelerator: characters drawn in chunks that never leave the device until the
chunk is done, and on CUDA the chunk replayed as one captured graph.

One stream on a GPU is bound by kernel launches, not arithmetic: a character is a dozen small
kernels (two cell steps, the output layer, top-k, softmax, the draw), each a few microseconds
to launch and far less to run. A chunk of ACCELERATOR_CHUNK characters is a fixed sequence of
kernels once its random numbers are an input, so on CUDA it is captured in a CUDA graph once and
replayed: one launch per chunk. The random numbers are drawn per chunk from the stream's own
generator, outside the graph (uniforms in [0, 1)), and each character is picked by inverting the
cumulative distribution of its candidates: the same rule, top-k, top-p and temperature, as the
rest of sampling. The eager path runs the same chunk op by op, on any device: on the CPU it is
what the tests check the graph against."""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from workbench.engine.config import SampleSettings
from workbench.engine.infer.sample_filter import filter_logits
from workbench.models.stepper import CharStepper

ACCELERATOR_CHUNK = 32
"""Characters per chunk: per host copy, and per graph replay on CUDA."""


def draw_with_uniform(logits: Tensor, settings: SampleSettings, uniform: Tensor) -> Tensor:
    """One id per row of logits (N, V), chosen by `uniform` (N,) in [0, 1): the first candidate
    whose cumulative probability exceeds it. No host sync and no random state: a graph can hold it."""
    if settings.top_p is None and settings.top_k and settings.top_k < logits.shape[-1]:
        values, candidates = torch.topk(logits.float(), settings.top_k, dim=-1)
        probs = torch.softmax(values / settings.temperature, dim=-1)
    else:
        probs = torch.softmax(filter_logits(logits, settings.top_k, settings.top_p, settings.temperature), dim=-1)
        candidates = None
    cdf = probs.cumsum(dim=-1)
    point = uniform.unsqueeze(1) * cdf[:, -1:]
    # cdf <= point counts the candidates wholly below the point; a masked one (probability 0)
    # never comes first, as its cdf equals the one before it
    choice = (cdf <= point).sum(dim=-1, keepdim=True).clamp_(max=probs.shape[-1] - 1)
    return (candidates.gather(1, choice) if candidates is not None else choice).squeeze(1)


class ChunkSampler:
    """N streams on one device, ACCELERATOR_CHUNK characters per call of `next_chunk`."""

    def __init__(self, stepper: CharStepper, logits: Tensor, settings: SampleSettings, seed: int, *,
                 chunk: int = ACCELERATOR_CHUNK, graph: bool = False) -> None:
        self.stepper, self.settings, self.chunk = stepper, settings, chunk
        device = logits.device
        streams = logits.shape[0]
        self.generator = torch.Generator(device=device).manual_seed(seed)
        # Static buffers: a captured graph reads and writes these same addresses on every replay.
        self.logits = logits.float().clone()
        self.state = [tuple(part.clone() for part in layer) for layer in stepper.state]
        self.uniform = torch.empty(chunk, streams, device=device)
        self.ids = torch.empty(streams, chunk, dtype=torch.long, device=device)
        self.graph: "torch.cuda.CUDAGraph | None" = None
        self.graph_error: str | None = None
        """Why a graph was asked for and not used (the eager chunk runs instead)."""
        if graph:
            self._capture()

    def next_chunk(self) -> Tensor:
        """Ids (N, chunk) of the next characters of every stream, on the device."""
        torch.rand(self.uniform.shape, generator=self.generator, device=self.uniform.device, out=self.uniform)
        if self.graph is not None:
            self.graph.replay()
        else:
            self._run()
        return self.ids

    def _run(self) -> None:
        """The chunk, op by op: draw, step, draw, ...; the state and the logits it ends with are
        copied back into the static buffers for the next chunk."""
        self.stepper.state = list(self.state)
        logits = self.logits
        for j in range(self.chunk):
            ids = draw_with_uniform(logits, self.settings, self.uniform[j])
            self.ids[:, j].copy_(ids)
            logits = self.stepper.step(ids)
        self.logits.copy_(logits)
        for static, new in zip(self.state, self.stepper.state):
            for s, n in zip(static, new):
                s.copy_(n)
        self.stepper.state = list(self.state)

    def _capture(self) -> None:
        """Warm up on a side stream (as capture requires), put the state back, capture one chunk."""
        saved = (self.logits.clone(), [tuple(p.clone() for p in layer) for layer in self.state])
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.uniform.uniform_(0.0, 1.0)  # any numbers: this run is thrown away
                self._run()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._run()
            self.graph = graph
        except Exception as exc:  # an old driver, a kernel that cannot be captured: eager it is
            self.graph = None
            self.graph_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"
        finally:
            self.logits.copy_(saved[0])
            for static, kept in zip(self.state, saved[1]):
                for s, k in zip(static, kept):
                    s.copy_(k)
            self.stepper.state = list(self.state)


def stream_in_chunks(sampler: ChunkSampler, vocab: list[str], length: int) -> Iterator[list[str]]:
    """`length` characters of each stream, a chunk at a time (one host copy per chunk); the last
    chunk is cut to what is left."""
    left = length
    while left > 0:
        block = sampler.next_chunk()[:, : min(left, sampler.chunk)].tolist()
        left -= len(block[0])
        yield ["".join(vocab[i] for i in row) for row in block]
