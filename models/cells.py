"""The recurrent cells a char-RNN can have, and its parameter count, without importing torch
(listing sessions and building the command line must stay cheap)."""
from __future__ import annotations

CELLS = ("lstm", "gru", "rnn")
"""As char-rnn offers them: LSTM, GRU and a plain tanh RNN."""
READ_CHUNK = 16_384
"""Positions per forward when a long sequence is read at batch 1 (a prime, a text scored)."""
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
"""Weight blocks per layer: the gates (and the candidate) each cell computes."""


def count_parameters(vocab_size: int, cell: str, hidden: int, layers: int) -> int:
    """Parameters of a `CharRNN` with these dimensions: per layer, the input and recurrent
    weights of every gate and their two biases; then the output layer."""
    total = 0
    for layer in range(layers):
        inputs = vocab_size if layer == 0 else hidden
        total += GATES[cell] * hidden * (inputs + hidden + 2)
    return total + hidden * vocab_size + vocab_size
