"""One character at a time, for sampling: the LSTM's weights repacked for matrix-vector work.

Generating one character reads every recurrent weight once, so a single sample is bound
by memory traffic and per-call overhead, not arithmetic. Repacking once per sampling call
cuts both: layer 0's input projection plus both its biases become one lookup table
(V x 4H: a one-hot times a matrix is a row of it), and each deeper layer's input and
recurrent matrices are stacked so one product on [x, h] replaces two. Row-major (4H x K)
weights with `addmv` for a single sample, since BLAS's gemv is fastest on that layout. The
arithmetic is the same as `CharRNN.forward`, in fp32.
"""
from __future__ import annotations

import torch
from torch import Tensor


class PackedLSTM:
    def __init__(self, model: "torch.nn.Module") -> None:
        rnn = model.rnn
        self.layers = model.config.layers
        self.hidden = model.config.hidden
        with torch.no_grad():
            self.table0 = (rnn.weight_ih_l0.t() + (rnn.bias_ih_l0 + rnn.bias_hh_l0)).contiguous()  # (V, 4H)
            self.w_hh0 = rnn.weight_hh_l0.detach().contiguous()  # (4H, H)
            self.stacked: list[tuple[Tensor, Tensor]] = []
            for layer in range(1, self.layers):
                w = torch.cat([getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")], dim=1)
                bias = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
                self.stacked.append((w.contiguous(), bias))  # (4H, 2H), (4H,)
            self.fc_w = model.fc.weight.detach().contiguous()
            self.fc_b = model.fc.bias.detach()

    @staticmethod
    def _affine(bias: Tensor, x: Tensor, w: Tensor) -> Tensor:
        """bias + x @ w.T for x (N, K), w (M, K)."""
        if x.shape[0] == 1:
            return torch.addmv(bias, w, x[0]).unsqueeze(0)
        return torch.addmm(bias, x, w.t())

    def _cell(self, gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        hdim = self.hidden
        sig = torch.sigmoid(gates)
        g = torch.tanh(gates[:, 2 * hdim : 3 * hdim])
        c = torch.addcmul(sig[:, hdim : 2 * hdim] * c, sig[:, :hdim], g)
        h = sig[:, 3 * hdim :] * torch.tanh(c)
        return h, c

    @torch.no_grad()
    def step(self, ids: Tensor, hidden: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """ids (N,) -> logits (N, V); hidden (h, c), each (layers, N, H)."""
        h_all, c_all = hidden
        hs, cs = [], []
        rows = self.table0[ids]
        gates = self._affine(rows[0], h_all[0], self.w_hh0) if ids.shape[0] == 1 else torch.addmm(rows, h_all[0], self.w_hh0.t())
        x, c = self._cell(gates, c_all[0])
        hs.append(x)
        cs.append(c)
        for layer, (w, bias) in enumerate(self.stacked, start=1):
            gates = self._affine(bias, torch.cat([x, h_all[layer]], dim=1), w)
            x, c = self._cell(gates, c_all[layer])
            hs.append(x)
            cs.append(c)
        return self._affine(self.fc_b, x, self.fc_w), (torch.stack(hs), torch.stack(cs))
