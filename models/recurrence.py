"""Per-step recurrences for the GRU and plain RNN cells, and one-step cells for sampling.

These run the same math as `nn.GRU` / `nn.RNN` (PyTorch's gate order and bias placement) on
input gates that were computed outside, so that one-hot input is a row lookup.
"""
from __future__ import annotations

import torch
from torch import Tensor


def gru_step(gates_x: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """gates_x (B, 3H) = x @ W_ih.T + b_ih; PyTorch's GRU: r, z, n."""
    hidden = h.shape[-1]
    gates_h = torch.addmm(b_hh, h, w_hh.t())
    x_r, x_z, x_n = gates_x.split(hidden, dim=-1)
    h_r, h_z, h_n = gates_h.split(hidden, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return n + z * (h - n)


def rnn_step(gates_x: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """gates_x (B, H) = x @ W_ih.T + b_ih; h' = tanh(gates_x + h @ W_hh.T + b_hh)."""
    return torch.tanh(torch.addmm(gates_x + b_hh, h, w_hh.t()))


def lstm_step(gates_x: Tensor, h: Tensor, c: Tensor, w_hh: Tensor) -> tuple[Tensor, Tensor]:
    """gates_x (B, 4H) holds x @ W_ih.T + b_ih + b_hh; gate order i, f, g, o."""
    hidden = h.shape[-1]
    g = torch.addmm(gates_x, h, w_hh.t())
    i, f, gg, o = g.split(hidden, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def run_sequence(step, gates_x: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """Time-major gates_x (S, B, G) -> outputs (S, B, H) and the last hidden state."""
    outputs = []
    for t in range(gates_x.shape[0]):
        h = step(gates_x[t], h, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs), h
