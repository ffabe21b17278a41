"""One LSTM layer over a whole sequence, with a hand-written backward pass.

Why not `nn.LSTM`: on a CPU its autograd path does one small matrix product per time
step for *every* weight gradient. Here the recurrence (which is inherently sequential)
is the only per-step product; the weight gradient of the recurrent matrix is one large
product over all time steps, which runs near the machine's peak. The input projection is
computed outside (a row lookup for one-hot input, one large product for deeper layers),
so this function only sees pre-computed input gates.

The math is exactly PyTorch's LSTM (gate order i, f, g, o; both biases folded into the
input gates), so the parameters are the same tensors `nn.LSTM` would have.
"""
from __future__ import annotations

import torch
from torch import Tensor


class LSTMSequence(torch.autograd.Function):
    """Time-major: gates_x (S, B, 4H), h0 (B, H), c0 (B, H), w_hh (4H, H) -> out (S, B, H), hT, cT.

    Time-major so that every per-step slice is a contiguous matrix: BLAS runs about twice
    as fast on those as on strided slices of a batch-major tensor.
    """

    @staticmethod
    def forward(ctx, gates_x: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor):
        steps, batch, four_h = gates_x.shape
        hidden = four_h // 4
        w_hh_t = w_hh.t()
        # acts holds the post-activation gates i, f, g, o of every step: backward needs them.
        acts = torch.empty_like(gates_x)
        out = gates_x.new_empty(steps, batch, hidden)
        cells = gates_x.new_empty(steps + 1, batch, hidden)
        cells[0] = c0
        h = h0
        for t in range(steps):
            g = torch.addmm(gates_x[t], h, w_hh_t)
            a = acts[t]
            torch.sigmoid(g[:, : 2 * hidden], out=a[:, : 2 * hidden])
            torch.tanh(g[:, 2 * hidden : 3 * hidden], out=a[:, 2 * hidden : 3 * hidden])
            torch.sigmoid(g[:, 3 * hidden :], out=a[:, 3 * hidden :])
            i, f, gg, o = a.split(hidden, dim=1)
            c = torch.addcmul(f * cells[t], i, gg, out=cells[t + 1])
            h = torch.mul(o, torch.tanh(c), out=out[t])
        ctx.save_for_backward(acts, cells, out, h0, w_hh)
        return out, out[-1].clone(), cells[-1].clone()

    @staticmethod
    def backward(ctx, d_out: Tensor, d_hT: Tensor, d_cT: Tensor):
        acts, cells, out, h0, w_hh = ctx.saved_tensors
        steps, batch, four_h = acts.shape
        hidden = four_h // 4
        d_gates = torch.empty_like(acts)
        d_h = d_hT.clone() if d_hT is not None else out.new_zeros(batch, hidden)
        d_c = d_cT.clone() if d_cT is not None else out.new_zeros(batch, hidden)
        for t in range(steps - 1, -1, -1):
            i, f, gg, o = acts[t].split(hidden, dim=1)
            if d_out is not None:
                d_h += d_out[t]
            tanh_c = torch.tanh(cells[t + 1])
            dg_i, dg_f, dg_g, dg_o = d_gates[t].split(hidden, dim=1)
            torch.mul(d_h * tanh_c, o * (1 - o), out=dg_o)
            # dc accumulates through the output gate: dh * o * (1 - tanh(c)^2)
            d_c.addcmul_(d_h * o, 1 - tanh_c * tanh_c)
            torch.mul(d_c * gg, i * (1 - i), out=dg_i)
            torch.mul(d_c * cells[t], f * (1 - f), out=dg_f)
            torch.mul(d_c * i, 1 - gg * gg, out=dg_g)
            d_c = d_c * f
            d_h = d_gates[t] @ w_hh
        # One large product for the recurrent weight gradient instead of one per step.
        h_prev = torch.cat([h0.unsqueeze(0), out[:-1]], dim=0)
        d_w_hh = d_gates.reshape(-1, four_h).t() @ h_prev.reshape(-1, hidden)
        return d_gates, d_h, d_c, d_w_hh


def lstm_sequence(gates_x: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    return LSTMSequence.apply(gates_x, h0, c0, w_hh)
