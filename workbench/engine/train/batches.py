"""Contiguous mini-batches laid out exactly as the char-RNN notebook does it.

Keep only full batches, reshape the text into `batch_size` rows, walk windows of
`seq_length` columns; targets are the inputs shifted by one, and the last window's final
target wraps around to column 0 (the notebook's `IndexError` branch). The grid lives on the
training device: a window is a view, so a step does no host work and no copy.
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor


class WindowGrid:
    def __init__(self, ids: Tensor, batch_size: int, seq_length: int) -> None:
        per_batch = batch_size * seq_length
        self.batches = len(ids) // per_batch
        if self.batches < 1:
            raise ValueError(f"{len(ids)} characters cannot fill one {batch_size}x{seq_length} batch")
        self.seq_length = seq_length
        self.grid = ids[: self.batches * per_batch].view(batch_size, -1)

    def __len__(self) -> int:
        return self.batches

    @property
    def rows(self) -> int:
        return int(self.grid.shape[0])

    def row_range(self, part: slice) -> "WindowGrid":
        """The same windows over rows `part` only (a view): one rank's share of the batch. Each
        row is its own stream of text, so the rows of a batch can be trained apart."""
        share = copy.copy(self)
        share.grid = self.grid[part]
        return share

    def window(self, index: int) -> tuple[Tensor, Tensor]:
        """Inputs and targets (batch_size, seq_length) of window `index`."""
        s = self.seq_length
        start = index * s
        x = self.grid[:, start : start + s]
        if index < self.batches - 1:
            y = self.grid[:, start + 1 : start + s + 1]
        else:
            y = torch.cat([self.grid[:, start + 1 :], self.grid[:, :1]], dim=1)
        return x, y
