import pytest
import torch
import torch.nn.functional as F

from workbench.models import CharRNN, ModelConfig


def test_notebook_configuration_has_the_notebooks_parameter_count():
    model = CharRNN(ModelConfig(vocab_size=83))  # 512 hidden x 2 layers, the defaults
    assert model.num_parameters() == 3_366_483


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_forward_equals_the_stock_module_on_one_hot_input(cell):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=11, cell=cell, hidden=16, layers=3, dropout=0.0)).double().eval()
    ids = torch.randint(0, 11, (4, 9))
    hidden = tuple(h.double().normal_() for h in model.init_hidden(4))
    logits, state = model(ids, hidden)
    reference, ref_state = model.rnn(F.one_hot(ids, 11).double(), hidden if cell == "lstm" else hidden[0])
    assert torch.allclose(logits, model.fc(reference), atol=1e-12)
    ref_state = ref_state if cell == "lstm" else (ref_state,)
    for ours, theirs in zip(state, ref_state):
        assert torch.allclose(ours, theirs, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_gradients_equal_the_stock_module(cell):
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=7, cell=cell, hidden=6, layers=2, dropout=0.0)).double()
    ids = torch.randint(0, 7, (3, 5))
    targets = torch.randint(0, 7, (3, 5))
    hidden = tuple(h.double() for h in model.init_hidden(3))
    logits, _ = model(ids, hidden)
    F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1)).backward()
    ours = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    out, _ = model.rnn(F.one_hot(ids, 7).double(), hidden if cell == "lstm" else hidden[0])
    F.cross_entropy(model.fc(out).reshape(-1, 7), targets.reshape(-1)).backward()
    for name, p in model.named_parameters():
        assert torch.allclose(ours[name], p.grad, atol=1e-12), name


def test_single_steps_match_the_sequence_forward():
    torch.manual_seed(2)
    model = CharRNN(ModelConfig(vocab_size=9, hidden=12, layers=2, dropout=0.0)).eval()
    ids = torch.randint(0, 9, (2, 6))
    full, _ = model(ids, model.init_hidden(2))
    hidden = model.init_hidden(2)
    for t in range(6):
        logits, hidden = model.step(ids[:, t], hidden)
        assert torch.allclose(logits, full[:, t], atol=1e-5)


def test_no_one_hot_is_built_on_the_cpu(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("one_hot called on the CPU path")

    monkeypatch.setattr(F, "one_hot", forbidden)
    model = CharRNN(ModelConfig(vocab_size=5, hidden=8, layers=2))
    logits, _ = model(torch.randint(0, 5, (2, 3)), model.init_hidden(2))
    logits.sum().backward()
    assert logits.shape == (2, 3, 5)
