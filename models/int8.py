"""Weight-only int8 for sampling on the CPU: the same checkpoint with each weight matrix rounded
to int8, one fp32 scale per output row (symmetric: the row's largest magnitude maps to 127).

Why: one sampled character reads every weight once, so a single stream is bound by how many
bytes it reads (12.8 MB a character at 512x2 in fp32). int8 reads a quarter of that, through
torch's weight-only int8 product (`torch._weight_int8pack_mm`, activations in bf16). What it
costs is quality: it is another model, close to the trained one, and the CLI says by how much
(bits/char on the validation text) so a user chooses with numbers. Never the default.

`quantize_int8(model)` rounds the model's own weights in place (so a prime read by
`CharRNN.forward`, the probe and `score` see exactly the rounded weights, in fp32) and returns
the packed form that `Int8Stepper` steps with."""
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
    """`out = base + matrix @ vector` for one stream (models/one_stream.py) with an int8 matrix:
    the fp32 vector copied into a preallocated bf16 row (zero-padded to the matrix's width),
    torch's int8 product, and the bias added into `out` in fp32."""

    layout = "int8, row-major"

    def __init__(self, packed: Packed, base: Tensor, vector: Tensor, out: Tensor) -> None:
        self.packed = packed
        self.matrix_bytes = packed.weight.numel() + packed.scales.numel() * packed.scales.element_size()
        self.row = torch.zeros(1, packed.weight.shape[1], dtype=torch.bfloat16, device=vector.device)
        self.row_part, self.vector, self.base, self.out = self.row[0, : vector.shape[0]], vector, base, out

    def run(self) -> Tensor:
        self.row_part.copy_(self.vector)
        product = torch._weight_int8pack_mm(self.row, self.packed.weight, self.packed.scales)
        return torch.add(self.base, product[0], out=self.out)


def stacked(parts: list[Packed], rows: list[Tensor]) -> Packed:
    """Packed matrices stacked by rows, each taking the rows `rows[i]` of `parts[i]` in that
    order (int8 rows keep their own scales, so stacking is exact)."""
    return Packed(torch.cat([p.weight[r] for p, r in zip(parts, rows)]).contiguous(),
                  torch.cat([p.scales[r] for p, r in zip(parts, rows)]).contiguous())


class Int8Stepper:
    """N streams of an LSTM char-RNN advanced one character per call with int8 weights (CPU;
    one stream steps in models/one_stream.py with `Int8Product`). State and
    gate arithmetic are fp32; each product reads int8 weights with bf16 activations. Layer 0's
    input product of a one-hot is a row lookup, as in `CharStepper`, from the rounded weights."""

    def __init__(self, model: "torch.nn.Module", packed: dict[str, Packed], hidden: tuple[Tensor, ...]) -> None:
        if model.config.cell != "lstm":
            raise ValueError("int8 sampling is built for LSTM cells")
        rnn, layers = model.rnn, model.config.layers
        self.layers, self.hidden = layers, model.config.hidden
        self.packed = [(packed[f"rnn.weight_ih_l{layer}"], packed[f"rnn.weight_hh_l{layer}"]) for layer in range(layers)]
        self.bias = [(getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")).detach().float()
                     for layer in range(layers)]
        self.table0 = (rnn.weight_ih_l0.detach().float().t() + self.bias[0]).contiguous()  # (V, 4H), rounded weights
        self.fc, self.fc_b = packed["fc.weight"], model.fc.bias.detach().float()
        self.h = [hidden[0][layer].float().clone() for layer in range(layers)]  # (N, H) each
        self.c = [hidden[1][layer].float().clone() for layer in range(layers)]

    def _cell(self, layer: int, gates: Tensor) -> Tensor:
        """PyTorch's LSTM gate order (i, f, g, o): the new h of `layer`."""
        h = self.hidden
        gates = gates.float() if gates.dtype != torch.float32 else gates
        gates = gates.add(self.packed[layer][1].times(self.h[layer]))
        i, f, o = gates[:, :h].sigmoid(), gates[:, h : 2 * h].sigmoid(), gates[:, 3 * h :].sigmoid()
        c = torch.addcmul(self.c[layer] * f, i, gates[:, 2 * h : 3 * h].tanh())
        self.c[layer] = c
        self.h[layer] = o * c.tanh()
        return self.h[layer]

    @torch.no_grad()
    def step(self, ids: Tensor) -> Tensor:
        """N streams: ids (N,) -> logits (N, V), fp32."""
        x = self._cell(0, self.table0[ids])
        for layer in range(1, self.layers):
            x = self._cell(layer, self.packed[layer][0].times(x).float().add_(self.bias[layer]))
        return self.fc.times(x).float().add_(self.fc_b)
