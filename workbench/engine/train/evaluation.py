"""Validation loss, scored the way the reference baseline's README defines it: mean
cross-entropy in nats over every position of the notebook batch layout of the validation
split, dropout off, no gradients, hidden state carried from zeros."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.engine.train.batches import WindowGrid
from workbench.engine.train.distributed import World


@torch.no_grad()
def validation_loss(model: torch.nn.Module, grid: WindowGrid, max_batches: int | None = None, autocast_dtype=None,
                    world: World | None = None) -> float:
    """The mean loss over every position of `grid` (its first `max_batches` windows: the cheap
    estimate). In a group each rank scores its own rows of the batch and the sums are added up:
    the same number as one process scoring all rows, up to the order of the additions."""
    was_training = model.training
    model.eval()
    try:
        device = grid.grid.device
        hidden = model.init_hidden(grid.grid.shape[0], device)
        total = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, positions
        batches = len(grid) if max_batches is None else min(max_batches, len(grid))
        for index in range(batches):
            x, y = grid.window(index)
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                logits, hidden = model(x, hidden)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1).long(), reduction="sum")
            total[0] += loss.double()
            total[1] += y.numel()
        if world is not None:
            world.sum_(total)
        loss_sum, count = total.tolist()  # one sync for the whole pass
        return loss_sum / count
    finally:
        model.train(was_training)


def as_tensor_ids(ids, device: torch.device) -> Tensor:
    """A numpy id array as a tensor on the device, keeping its compact dtype (uint8 stays
    one byte per character; int32/uint16 become int32)."""
    tensor = torch.from_numpy(ids)
    if tensor.dtype not in (torch.uint8, torch.int32, torch.int64):
        tensor = tensor.to(torch.int32)
    return tensor.to(device)
