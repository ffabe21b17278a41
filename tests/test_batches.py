import numpy as np
import torch

from workbench.engine.train.batches import WindowGrid


def notebook_get_batches(arr, batch_size, seq_length):
    """The teaching notebook's generator, as the reference baseline has it."""
    batch_size_total = batch_size * seq_length
    n_batches = len(arr) // batch_size_total
    arr = arr[: n_batches * batch_size_total].reshape((batch_size, -1))
    for n in range(0, arr.shape[1], seq_length):
        x = arr[:, n : n + seq_length]
        y = np.zeros_like(x)
        try:
            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, n + seq_length]
        except IndexError:
            y[:, :-1], y[:, -1] = x[:, 1:], arr[:, 0]
        yield x, y


def test_windows_match_the_notebook_layout_exactly():
    arr = np.random.default_rng(0).integers(0, 50, size=1237).astype(np.uint8)
    grid = WindowGrid(torch.from_numpy(arr), batch_size=4, seq_length=7)
    expected = list(notebook_get_batches(arr, 4, 7))
    assert len(grid) == len(expected) == 1237 // 28
    for index, (x, y) in enumerate(expected):
        gx, gy = grid.window(index)
        assert np.array_equal(gx.numpy(), x)
        assert np.array_equal(gy.numpy(), y)


def test_rows_are_contiguous_text_and_targets_are_shifted():
    arr = torch.arange(2 * 3 * 4, dtype=torch.int32)  # 2 rows, 4 windows of 3... = 24 chars
    grid = WindowGrid(arr, batch_size=2, seq_length=3)
    x0, y0 = grid.window(0)
    x1, _ = grid.window(1)
    assert x0.tolist() == [[0, 1, 2], [12, 13, 14]]
    assert y0.tolist() == [[1, 2, 3], [13, 14, 15]]
    assert x1.tolist() == [[3, 4, 5], [15, 16, 17]]  # row 0 continues where it stopped
    _, y_last = grid.window(3)
    assert y_last[:, -1].tolist() == [0, 12]  # the notebook wraps the very last target


def test_windows_are_views_on_the_device_tensor():
    arr = torch.arange(100, dtype=torch.uint8)
    grid = WindowGrid(arr, batch_size=2, seq_length=5)
    x, _ = grid.window(2)
    assert x.data_ptr() - arr.data_ptr() == 10  # no copy
