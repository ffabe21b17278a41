"""One optimisation step of the notebook's layout: the next window of the contiguous batch, the
hidden state carried (detached) from the window before, cross-entropy, backward, the gradient
norm clipped, the optimizer's step; a new epoch starts from a zero hidden state.

The loss and gradient norm stay on the device (metrics_log.IntervalMeter): a step never waits
for the device to tell it a number. In a group of W processes each trains its own B/W rows of
the batch, and DDP averages the gradients: the same optimisation step as one process with all
B rows (up to the order of the additions)."""
from __future__ import annotations

import inspect
import time

import torch
import torch.nn.functional as F

from workbench.engine.train.batches import WindowGrid
from torch.nn.parallel import DistributedDataParallel

from workbench.engine.config import TrainConfig
from workbench.engine.train.distributed import World
from workbench.engine.train.metrics_log import IntervalMeter
from workbench.engine.train.state import RunState
from workbench.models.charrnn import CharRNN, ModelConfig


# Newer torch names the option forward_sync_buffers (and warns about the old one); 2.4 knows
# only broadcast_buffers.
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
                   else {"broadcast_buffers": False})


class TrainingStep:
    """The model, its optimizer, the hidden state carried between windows, and the step."""

    def __init__(self, config: TrainConfig, vocab_size: int, grid: WindowGrid, device: torch.device,
                 autocast_dtype: torch.dtype | None, world: World) -> None:
        """`grid` holds this process's rows of the batch (all of them in a world of one)."""
        c = config
        self.config, self.grid, self.device, self.autocast_dtype = config, grid, device, autocast_dtype
        # In the order the seed decides them: the weights, then the first hidden state.
        self.model = CharRNN(ModelConfig(vocab_size, c.cell, c.hidden, c.layers, c.dropout)).to(device)
        optimizer = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
        self.optimizer: torch.optim.Optimizer = optimizer(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self.hidden = self.model.init_hidden(grid.rows)
        self.meter = IntervalMeter(device, c.batch_size * c.seq_length, world if world.distributed else None)
        self._params = list(self.model.parameters())
        # In a group, DDP averages the gradients in the backward pass (its construction copies
        # rank 0's weights to every rank). Its buffer sync is off: the one buffer is a constant.
        self.network: torch.nn.Module = self.model
        if world.distributed:
            device_ids = [device.index] if device.type == "cuda" else None
            self.network = DistributedDataParallel(self.model, device_ids=device_ids, **_NO_BUFFER_SYNC)

    def __call__(self, progress: RunState, lr: float) -> None:
        """Train one window at learning rate `lr`; `progress` moves on by one step."""
        c, model, optimizer = self.config, self.model, self.optimizer
        for group in optimizer.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        x, y = self.grid.window(progress.position)
        hidden = tuple(h.detach() for h in self.hidden)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            logits, hidden = self.network(x, hidden)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1).long())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # clip_grad_norm_ with an infinite limit measures without clipping (any torch >= 2.4)
        norm = torch.nn.utils.clip_grad_norm_(self._params, c.clip if c.clip > 0 else float("inf"))
        optimizer.step()
        self.hidden = hidden
        progress.step += 1
        progress.position += 1
        if progress.position >= len(self.grid):
            progress.position = 0
            progress.epoch += 1
            # The notebook starts every epoch from a zero hidden state.
            self.hidden = model.init_hidden(self.grid.rows)
        self.meter.add(loss, norm, time.perf_counter() - t0)
