"""Learning-rate schedules and the optimizer choice."""
import math

import pytest
import torch

from workbench.engine.train.schedule import learning_rate
from workbench.engine.train.trainer import Trainer

from support import make_session, small_text


def test_constant():
    assert [learning_rate("constant", 0.002, s, s // 10) for s in (0, 5, 500)] == [0.002] * 3


def test_cosine_warms_up_linearly_then_falls_to_the_floor():
    lr = lambda step: learning_rate("cosine", 1.0, step, 0, total_steps=110, warmup_steps=10, min_lr_frac=0.1)
    assert [lr(s) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert lr(10) == pytest.approx(1.0)  # the peak, right after warmup
    assert lr(60) == pytest.approx(0.55)  # half way: between peak and floor
    assert lr(110) == pytest.approx(0.1) and lr(500) == pytest.approx(0.1)  # the floor, and it stays
    after = [lr(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(after, after[1:]))


def test_cosine_without_warmup_or_budget_is_defined():
    assert learning_rate("cosine", 1.0, 0, 0, total_steps=100) == pytest.approx(1.0)
    assert math.isfinite(learning_rate("cosine", 1.0, 5, 0, total_steps=None))


@pytest.mark.parametrize("decay_after", [0, 1, 3])
def test_char_rnn_decay_at_the_end_of_each_epoch_from_decay_after(decay_after):
    # char-rnn's train.lua: at the end of epoch e (e = 1, 2, ...), if e >= decay_after, lr *= rate
    expected, rate = 1.0, 0.5
    for epochs_done in range(0, 7):
        if epochs_done >= 1 and epochs_done >= decay_after:
            expected *= rate
        got = learning_rate("decay", 1.0, 1000 * epochs_done, epochs_done, decay_rate=rate, decay_after=decay_after)
        assert got == pytest.approx(expected), (decay_after, epochs_done)


def test_unknown_schedule():
    with pytest.raises(ValueError):
        learning_rate("triangle", 1.0, 0, 0)


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_the_optimizer_is_the_one_asked_with_its_weight_decay(tmp_path, name, cls):
    session = make_session(tmp_path, small_text(tmp_path), optimizer=name, weight_decay=0.01, max_steps=2)
    trainer = Trainer(session)
    trainer.run()
    assert type(trainer.optimizer) is cls
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 0.01
