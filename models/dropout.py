"""Dropout with a cheaper random mask.

`F.dropout` draws one Bernoulli sample per element through a generic sampler, which on a
CPU costs about as much as a tenth of a whole training step at 512x2. Here the mask comes
from raw random bits: 16 bits per element, compared against a threshold. The keep
probability is therefore 1 - p rounded to a multiple of 1/65536 (exact for 0.5, 0.25, ...;
off by at most 7.6e-6 otherwise), and kept values are scaled by 1 / (1 - p) as usual.
"""
from __future__ import annotations

import torch
from torch import Tensor


class _MaskedScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, keep: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x * keep * scale

    @staticmethod
    def backward(ctx, grad: Tensor):
        (keep,) = ctx.saved_tensors
        return grad * keep * ctx.scale, None, None


def fast_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    if not training or p <= 0.0:
        return x
    if x.device.type != "cpu":
        return torch.nn.functional.dropout(x, p, training=True)
    n = x.numel()
    # 64 random bits per word = four 16-bit draws (random_() alone would leave the top bit 0).
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
    bits = words.view(torch.int16)[:n].view(x.shape)
    # int16 is uniform on [-32768, 32767]; keep when bits >= threshold: P(keep) = 1 - p.
    threshold = -32768 + round(p * 65536)
    keep = (bits >= threshold).to(x.dtype)
    return _MaskedScale.apply(x, keep, 1.0 / (1.0 - p))
