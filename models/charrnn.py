"""The char-RNN: one-hot characters -> multi-layer LSTM/GRU/RNN -> dropout -> linear.

The parameters live in a stock `nn.LSTM` / `nn.GRU` / `nn.RNN`, so the parameter count and
the state-dict layout are exactly those of the teaching notebook's network (3,366,483
parameters for 83 characters at 512x2). What differs is how the forward pass is run:

* A one-hot vector times a weight matrix is a row of that matrix, so layer 0's input
  projection is a row lookup (`F.embedding` on W_ih.T); no one-hot tensor is built.
* On the CPU the LSTM recurrence runs in `lstm_layer.LSTMSequence`, whose backward pass
  computes the weight gradients as single large matrix products.
* On CUDA the stock cuDNN kernel is faster than any per-step Python loop, so the network is
  run through it; cuDNN needs a dense input for layer 0, and there the one-hot matrix (a few
  MB per batch) is the cheaper equivalent.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.models.dropout import fast_dropout
from workbench.models.lstm_layer import lstm_sequence
from workbench.models.recurrence import gru_step, lstm_step, rnn_step, run_sequence

CELLS = ("lstm", "gru", "rnn")
_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

Hidden = tuple[Tensor, ...]  # (h, c) for an LSTM, (h,) otherwise; each (layers, batch, hidden)


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    """Number of distinct characters (the one-hot width and the output width)."""
    cell: str = "lstm"
    """Recurrent cell: lstm, gru or rnn (tanh), as char-rnn offers."""
    hidden: int = 512
    """Units per recurrent layer."""
    layers: int = 2
    """Number of stacked recurrent layers."""
    dropout: float = 0.5
    """Dropout between recurrent layers and before the output layer."""


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.cell not in CELLS:
            raise ValueError(f"unknown cell {config.cell!r}; choose one of {', '.join(CELLS)}")
        self.config = config
        v, h = config.vocab_size, config.hidden
        self.rnn = _MODULES[config.cell](
            v, h, config.layers, dropout=config.dropout if config.layers > 1 else 0.0, batch_first=True
        )
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(h, v)

    # -- hidden state -------------------------------------------------------------------
    def init_hidden(self, batch_size: int, device: torch.device | str | None = None) -> Hidden:
        weight = self.fc.weight
        shape = (self.config.layers, batch_size, self.config.hidden)
        zeros = lambda: torch.zeros(shape, dtype=weight.dtype, device=device or weight.device)  # noqa: E731
        return (zeros(), zeros()) if self.config.cell == "lstm" else (zeros(),)

    # -- forward ------------------------------------------------------------------------
    def forward(self, ids: Tensor, hidden: Hidden) -> tuple[Tensor, Hidden]:
        """ids (B, S) integer -> logits (B, S, V), next hidden state."""
        if ids.device.type != "cpu":
            out, hidden = self._forward_fused(ids, hidden)
            return self.fc(self.dropout(out)), hidden
        out, hidden = self._forward_layers(ids, hidden)
        return self.fc(fast_dropout(out, self.config.dropout, self.training)), hidden

    def _forward_fused(self, ids: Tensor, hidden: Hidden) -> tuple[Tensor, Hidden]:
        one_hot = F.one_hot(ids.long(), self.config.vocab_size).to(self.fc.weight.dtype)
        state = hidden if self.config.cell == "lstm" else hidden[0]
        out, state = self.rnn(one_hot, state)
        return out, (tuple(state) if self.config.cell == "lstm" else (state,))

    def _layer_params(self, layer: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        rnn = self.rnn
        return (
            getattr(rnn, f"weight_ih_l{layer}"),
            getattr(rnn, f"weight_hh_l{layer}"),
            getattr(rnn, f"bias_ih_l{layer}"),
            getattr(rnn, f"bias_hh_l{layer}"),
        )

    def _forward_layers(self, ids: Tensor, hidden: Hidden) -> tuple[Tensor, Hidden]:
        cell = self.config.cell
        x = ids.t().long()  # time-major (S, B): every per-step slice is contiguous
        new_h: list[Tensor] = []
        new_c: list[Tensor] = []
        out = x
        for layer in range(self.config.layers):
            w_ih, w_hh, b_ih, b_hh = self._layer_params(layer)
            if layer == 0:
                gates = F.embedding(x, w_ih.t())  # one-hot @ W_ih.T == a row of W_ih.T
            else:
                out = fast_dropout(out, self.rnn.dropout, self.training)
                gates = F.linear(out, w_ih)
            if cell == "lstm":
                out, h_last, c_last = lstm_sequence(gates + (b_ih + b_hh), hidden[0][layer], hidden[1][layer], w_hh)
                new_c.append(c_last)
            else:
                step = gru_step if cell == "gru" else rnn_step
                out, h_last = run_sequence(step, gates + b_ih, hidden[0][layer], w_hh, b_hh)
            new_h.append(h_last)
        state = (torch.stack(new_h), torch.stack(new_c)) if cell == "lstm" else (torch.stack(new_h),)
        return out.transpose(0, 1), state

    # -- one step, for sampling ---------------------------------------------------------
    @torch.no_grad()
    def step(self, ids: Tensor, hidden: Hidden) -> tuple[Tensor, Hidden]:
        """ids (N,) -> logits (N, V) for the next character. Evaluation mode only."""
        if ids.is_cuda:
            logits, hidden = self.forward(ids.unsqueeze(1), hidden)
            return logits[:, 0], hidden
        cell = self.config.cell
        x = ids.long()
        hs, cs = list(hidden[0].unbind(0)), (list(hidden[1].unbind(0)) if cell == "lstm" else None)
        for layer in range(self.config.layers):
            w_ih, w_hh, b_ih, b_hh = self._layer_params(layer)
            gates = F.embedding(x, w_ih.t()) if layer == 0 else F.linear(x, w_ih)
            if cell == "lstm":
                hs[layer], cs[layer] = lstm_step(gates + (b_ih + b_hh), hs[layer], cs[layer], w_hh)
            else:
                step = gru_step if cell == "gru" else rnn_step
                hs[layer] = step(gates + b_ih, hs[layer], w_hh, b_hh)
            x = hs[layer]
        state = (torch.stack(hs), torch.stack(cs)) if cell == "lstm" else (torch.stack(hs),)
        return self.fc(x), state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
