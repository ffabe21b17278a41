"""The char-RNN: one-hot characters -> multi-layer LSTM/GRU/RNN -> dropout -> linear.

The parameters live in a stock `nn.LSTM` / `nn.GRU` / `nn.RNN`, so the parameter count and
the state-dict layout are exactly those of the teaching notebook's network (3,366,483
parameters for 83 characters at 512x2), and training runs the stock fused kernels: cuDNN on
CUDA, oneDNN on the CPU.

Those kernels need a dense input for layer 0, so training builds the one-hot batch (one
gather from a cached identity matrix, 4 MB at 128x100x83). A one-hot times a weight matrix is
a row lookup, and we measured that route too: a lookup plus our own recurrence with a
hand-written backward pass cost 0.73 s per layer-0 forward+backward at 512 hidden on a 2-core
CPU, against 0.60 s for oneDNN on the one-hot batch, so the one-hot is the cheaper
equivalent here. Sampling, where one character at a time is all there is, does use the
lookup (models/stepper.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from workbench.models.cells import CELLS, READ_CHUNK
from workbench.models.dropout import fast_dropout

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
        self.register_buffer("identity", torch.eye(v), persistent=False)  # rows are the one-hot vectors

    # -- hidden state -------------------------------------------------------------------
    def init_hidden(self, batch_size: int, device: torch.device | str | None = None) -> Hidden:
        weight = self.fc.weight
        shape = (self.config.layers, batch_size, self.config.hidden)
        zeros = lambda: torch.zeros(shape, dtype=weight.dtype, device=device or weight.device)  # noqa: E731
        return (zeros(), zeros()) if self.config.cell == "lstm" else (zeros(),)

    # -- forward ------------------------------------------------------------------------
    def forward(self, ids: Tensor, hidden: Hidden) -> tuple[Tensor, Hidden]:
        """ids (B, S) integer -> logits (B, S, V), next hidden state."""
        one_hot = self.identity[ids.long()]
        state = hidden if self.config.cell == "lstm" else hidden[0]
        x = one_hot.to(self.fc.weight.dtype)
        if x.device.type == "cpu" and self.training and self.config.layers > 1 and self.config.dropout > 0:
            out, state = self._layer_by_layer(x, state)
        else:
            out, state = self.rnn(x, state)
        if out.device.type == "cpu":
            out = fast_dropout(out, self.config.dropout, self.training)  # half the cost of nn.Dropout there
        else:
            out = self.dropout(out)
        return self.fc(out), (tuple(state) if self.config.cell == "lstm" else (state,))

    def _layer_by_layer(self, x: Tensor, state):
        """The stacked recurrence one fused layer call at a time, so that the dropout between
        layers is `fast_dropout` too: inside a multi-layer call on the CPU it is a Bernoulli
        draw per element, ~5% of a 512x2 training step. Same weights, same math."""
        rnn, layers = self.rnn, self.config.layers
        weights = rnn._flat_weights
        per_layer = len(weights) // layers
        lstm = self.config.cell == "lstm"
        finals: list[tuple[Tensor, ...]] = []
        for layer in range(layers):
            if layer:
                x = fast_dropout(x, self.config.dropout, True)
            w = weights[layer * per_layer : (layer + 1) * per_layer]
            if lstm:
                x, h, c = torch._VF.lstm(x, (state[0][layer : layer + 1], state[1][layer : layer + 1]), w,
                                         rnn.bias, 1, 0.0, True, False, True)
                finals.append((h, c))
            else:
                run = torch._VF.gru if self.config.cell == "gru" else torch._VF.rnn_tanh
                x, h = run(x, state[layer : layer + 1], w, rnn.bias, 1, 0.0, True, False, True)
                finals.append((h,))
        if lstm:
            return x, (torch.cat([f[0] for f in finals]), torch.cat([f[1] for f in finals]))
        return x, torch.cat([f[0] for f in finals])

    @torch.no_grad()
    def step(self, ids: Tensor, hidden: Hidden) -> tuple[Tensor, Hidden]:
        """ids (N,) -> logits (N, V) for the next character."""
        logits, hidden = self.forward(ids.unsqueeze(1), hidden)
        return logits[:, 0], hidden

    @torch.no_grad()
    def read(self, ids: Tensor, hidden: Hidden, chunk: int = READ_CHUNK) -> tuple[Tensor, Hidden]:
        """ids (S,) fed in order at batch 1 -> logits (1, V) after the last of them, and the
        hidden state. In chunks, with the state carried: the same recurrence as one forward,
        without an (S x V) tensor for a long prime."""
        if ids.numel() == 0:
            raise ValueError("nothing to read: ids is empty")
        for start in range(0, ids.shape[0], chunk):
            logits, hidden = self.forward(ids[start : start + chunk].unsqueeze(0), hidden)
        return logits[:, -1], hidden

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
