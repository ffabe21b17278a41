"""Weight-only int8 for sampling on the CPU: the same checkpoint with each weight matrix rounded
to int8, one fp32 scale per output row (symmetric: the row's largest magnitude maps to 127).

Why: one sampled character reads every weight once, so a single stream is bound by how many
bytes it reads (12.8 MB a character at 512x2 in fp32). int8 reads a quarter of that, through
torch's weight-only int8 product (`torch._weight_int8pack_mm`, activations in bf16). What it
costs is quality: it is another model, close to the trained one, and the CLI says by how much
(bits/char on the validation text) so a user chooses with numbers. Never the default.

`quantize_int8(model)` rounds the model's own weights in place (so a prime read by
`CharRNN.forward`, the probe and `score` see exactly the rounded weights, in fp32) and returns
the packed form that `CpuStepper` steps with (models/cpu_stepper.py)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


# torch's int8 product reads its inputs in blocks of 16: with another width it returned wrong
# numbers or crashed (measured on torch 2.13 CPU for widths 8, 24, 40 at several row counts,
# right for every multiple of 16). Narrower matrices get zero columns up to the next multiple.
K_BLOCK = 16


@dataclass
class Packed:
    """An int8 matrix (out x in, the in side padded with zeros to a multiple of K_BLOCK) and
    its per-row bf16 scales (out,)."""

    weight: Tensor
    scales: Tensor

    def times(self, x: Tensor) -> Tensor:
        """x (N, in) @ weight.T -> (N, out) in bf16."""
        pad = self.weight.shape[1] - x.shape[1]
        x = torch.nn.functional.pad(x, (0, pad)) if pad else x
        return torch._weight_int8pack_mm(x.to(torch.bfloat16).contiguous(), self.weight, self.scales)


def _rounded(weight: Tensor) -> tuple[Tensor, Tensor]:
    scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    return torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8), scales


@torch.no_grad()
def quantize_int8(model: "torch.nn.Module") -> dict[str, Packed]:
    """Round every weight matrix of an fp32 CharRNN to int8 (biases stay fp32): the model's
    parameters become the rounded values; the packed matrices are returned by name."""
    packed: dict[str, Packed] = {}
    names = [f"rnn.weight_{kind}_l{layer}" for layer in range(model.config.layers) for kind in ("ih", "hh")]
    for name in names + ["fc.weight"]:
        param = model.get_parameter(name)
        weight, scales = _rounded(param.detach().float())
        param.copy_(weight.float() * scales[:, None])
        pad = -weight.shape[1] % K_BLOCK
        weight = torch.nn.functional.pad(weight, (0, pad)) if pad else weight
        packed[name] = Packed(weight.contiguous(), scales.to(torch.bfloat16))
    return packed


class Int8Product:
    """`out = base + matrix @ vector` for the CPU stepper (models/cpu_stepper.py) with an int8
    matrix: the fp32 vector (H,) or vectors (N, H) copied into preallocated bf16 rows
    (zero-padded to the matrix's width), torch's int8 product, the bias added into `out` in fp32."""

    layout = "int8, row-major"

    def __init__(self, packed: Packed, base: Tensor, vector: Tensor, out: Tensor) -> None:
        self.packed = packed
        self.matrix_bytes = packed.weight.numel() + packed.scales.numel() * packed.scales.element_size()
        vectors = vector.view(-1, vector.shape[-1])
        self.rows = torch.zeros(vectors.shape[0], packed.weight.shape[1], dtype=torch.bfloat16, device=vector.device)
        self.rows_part, self.vectors = self.rows[:, : vectors.shape[1]], vectors
        self.base, self.out = base, out.view(vectors.shape[0], -1)

    def run(self) -> Tensor:
        self.rows_part.copy_(self.vectors)
        product = torch._weight_int8pack_mm(self.rows, self.packed.weight, self.packed.scales)
        return torch.add(self.base, product, out=self.out)


def stacked(parts: list[Packed], rows: list[Tensor]) -> Packed:
    """Packed matrices stacked by rows, each taking the rows `rows[i]` of `parts[i]` in that
    order (int8 rows keep their own scales, so stacking is exact)."""
    return Packed(torch.cat([p.weight[r] for p, r in zip(parts, rows)]).contiguous(),
                  torch.cat([p.scales[r] for p, r in zip(parts, rows)]).contiguous())
