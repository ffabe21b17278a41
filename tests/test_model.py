import pytest
import torch
import torch.nn.functional as F

from workbench.models.charrnn import CharRNN, ModelConfig
from workbench.models.dropout import fast_dropout
from workbench.models.cpu_stepper import (ONEDNN, ONEDNN_FROM_BYTES, OUT_OFFSET, PAGE, CpuStepper, at_page_offset,
                                          native_step_module, product_layout)
from workbench.models.stepper import CharStepper


def test_notebook_configuration_has_the_notebooks_parameter_count():
    model = CharRNN(ModelConfig(vocab_size=83))  # 512 hidden x 2 layers, the defaults
    assert model.num_parameters() == 3_366_483
    assert set(model.state_dict()) == {n for n, _ in model.named_parameters()}  # no extra tensors saved


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_forward_is_the_notebooks_network(cell):
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
def test_single_steps_match_the_sequence_forward(cell):
    torch.manual_seed(2)
    model = CharRNN(ModelConfig(vocab_size=9, cell=cell, hidden=12, layers=2, dropout=0.0)).eval()
    ids = torch.randint(0, 9, (2, 6))
    full, _ = model(ids, model.init_hidden(2))
    hidden = model.init_hidden(2)
    for t in range(6):
        logits, hidden = model.step(ids[:, t], hidden)
        assert torch.allclose(logits, full[:, t], atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("layers", [1, 3])
def test_sampling_steps_match_the_forward(cell, batch, layers):
    """The sampling steps (the CPU's stacked products into preallocated buffers, one stream or
    several, with the native elementwise steps and with ATen's; the accelerators' fused cell
    calls) must be the network's own eval-mode forward, step after step."""
    torch.manual_seed(3)
    model = CharRNN(ModelConfig(vocab_size=20, cell=cell, hidden=16, layers=layers, dropout=0.5)).eval()
    ids = torch.randint(0, 20, (batch, 8))
    hidden = tuple(h.normal_() for h in model.init_hidden(batch))
    full, _ = model(ids, hidden)
    after_first = model(ids[:, :1], hidden)[1]
    # native: models/fused_step.c, built wherever setup.py builds it (tests/test_fused_step.py)
    natives = [True, False] if native_step_module() is not None else [False]
    steppers = [*(CpuStepper(model, after_first, native=n) for n in natives), CharStepper(model, after_first)]
    assert [s.native for s in steppers[:-1]] == natives
    if torch.backends.mkldnn.is_available():  # oneDNN's products, which large one-stream models use
        steppers.insert(0, CpuStepper(model, after_first, layout=ONEDNN))
    for stepper in steppers:
        for t in range(1, 8):
            if batch == 1 and isinstance(stepper, CpuStepper):
                logits = stepper.step_one(int(ids[0, t])).unsqueeze(0)
            else:
                logits = stepper.step(ids[:, t])
            assert torch.allclose(logits, full[:, t], atol=1e-5), (type(stepper).__name__, t)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_cpu_stepper_lays_out_each_product_for_its_kernel_and_keeps_the_bytes(dtype):
    """Stacked by the vector they multiply: one product per layer, the same weights as the
    model's (every recurrent, input past layer 0 and output weight once), in a fixed layout per dtype."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=20, hidden=16, layers=2)).eval().to(dtype)
    stream = CpuStepper(model, model.init_hidden(1))
    assert [p.matrix.shape for p in stream.products] == [(128, 16), (84, 16)]  # [W_ih1; W_hh0], [fc; W_hh1]
    assert sum(p.matrix_bytes for p in stream.products) == (3 * 64 * 16 + 20 * 16) * model.fc.weight.element_size()
    layout = {p.layout for p in stream.products}
    if dtype == torch.float32 and torch.backends.mkl.is_available():  # small products: MKL's, column-major
        assert layout == {"column-major"} and all(p.matrix.t().is_contiguous() for p in stream.products)
        # each matrix on a page boundary and its output half a page past one (no 4 KiB aliasing)
        assert all(p.matrix.data_ptr() % PAGE == 0 for p in stream.products)
        assert all(out.data_ptr() % PAGE == OUT_OFFSET for out in stream.out)
    elif dtype == torch.bfloat16:
        assert layout == {"row-major, as a matrix product"} and all(p.matrix.is_contiguous() for p in stream.products)
    # several streams: matrix products, fp32 on oneDNN's packed weights (MKL's were 3x slower), bf16 row-major
    streams = CpuStepper(model, model.init_hidden(3))
    several = ONEDNN if dtype == torch.float32 and torch.backends.mkldnn.is_available() else "row-major, as a matrix product"
    assert {p.layout for p in streams.products} == {several}
    # one fp32 stream's products from ONEDNN_FROM_BYTES on: oneDNN's (faster than MKL's there)
    if dtype == torch.float32 and torch.backends.mkldnn.is_available():
        assert product_layout(dtype, torch.device("cpu"), 1, ONEDNN_FROM_BYTES) == ONEDNN
        assert product_layout(dtype, torch.device("cpu"), 1, ONEDNN_FROM_BYTES - 1) != ONEDNN
    # the top product's upper rows are the output layer, as stored (LSTM gates reordered below it)
    assert torch.equal(stream.products[1].matrix[:20], model.fc.weight.detach())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int8])
def test_a_buffer_at_a_page_offset_starts_there_and_holds_its_shape(dtype):
    for offset in (0, 64, OUT_OFFSET, PAGE - 64):
        for _ in range(5):  # malloc's addresses vary: each lands where asked
            buffer = at_page_offset((3, 70), dtype, offset)
            assert buffer.data_ptr() % PAGE == offset and buffer.shape == (3, 70) and buffer.is_contiguous()
            assert buffer.dtype == dtype


def test_one_stream_leaves_the_given_state_alone():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=20, hidden=16, layers=2)).eval()
    hidden = tuple(h.normal_() for h in model.init_hidden(1))
    before = tuple(h.clone() for h in hidden)
    stream = CpuStepper(model, hidden)
    first = stream.step_one(3).clone()
    assert all(torch.equal(a, b) for a, b in zip(hidden, before))
    assert torch.equal(CpuStepper(model, hidden).step_one(3), first)  # a second stream starts where the first did


def test_fast_dropout_keeps_the_right_fraction_and_scales():
    torch.manual_seed(0)
    x = torch.ones(1000, 1000, requires_grad=True)
    for p in (0.5, 0.3, 0.1):
        y = fast_dropout(x, p, training=True)
        assert (y == 0).float().mean().item() == pytest.approx(p, abs=0.003)
        assert y.mean().item() == pytest.approx(1.0, abs=0.005)  # kept values scaled by 1/(1-p)
    y.sum().backward()
    assert torch.equal(x.grad != 0, y != 0)  # gradient flows through exactly the kept units
    assert fast_dropout(x, 0.5, training=False) is x


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_training_runs_layer_by_layer_with_the_same_math(cell, monkeypatch):
    """On the CPU in training the layers run one fused call each, so the dropout between them
    can be the cheap one. With that dropout switched off it must be the stacked network."""
    torch.manual_seed(4)
    model = CharRNN(ModelConfig(vocab_size=11, cell=cell, hidden=16, layers=3, dropout=0.5)).double()
    ids = torch.randint(0, 11, (4, 9))
    hidden = tuple(h.double().normal_() for h in model.init_hidden(4))
    calls = []
    monkeypatch.setattr("workbench.models.charrnn.fast_dropout",
                        lambda x, p, training: calls.append(p) or x)
    model.train()
    logits, state = model(ids, hidden)
    assert calls == [0.5, 0.5, 0.5]  # between the three layers, and before the output layer
    model.rnn.eval()  # the stock multi-layer call, its own dropout off
    reference, ref_state = model.rnn(F.one_hot(ids, 11).double(), hidden if cell == "lstm" else hidden[0])
    assert torch.allclose(logits, model.fc(reference), atol=1e-12)
    ref_state = ref_state if cell == "lstm" else (ref_state,)
    for ours, theirs in zip(state, ref_state):
        assert torch.allclose(ours, theirs, atol=1e-12)
    model.rnn.train()
    logits, _ = model(ids, hidden)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.rnn.parameters())


def test_the_torch_free_parameter_count_is_the_networks_own():
    from workbench.models.cells import CELLS, count_parameters

    for cell in CELLS:
        for vocab, hidden, layers in ((83, 512, 2), (65, 32, 1), (7, 16, 3)):
            model = CharRNN(ModelConfig(vocab, cell, hidden, layers, 0.2))
            assert count_parameters(vocab, cell, hidden, layers) == model.num_parameters(), (cell, hidden, layers)
    assert count_parameters(83, "lstm", 512, 2) == 3_366_483  # the notebook's network
