"""The native half of a CPU sampling step (models/fused_step.c): built where setup.py builds it,
the same rule as the Python paths it replaces, and harmless to the rest of the process."""
import platform
import random
import sys

import pytest
import torch

from workbench.engine.config import SampleSettings
from workbench.engine.errors import WorkbenchError
from workbench.engine.infer.sampling import _draw_one, _one_stream_draw, generate
from workbench.models.charrnn import CharRNN, ModelConfig
from workbench.models.cpu_stepper import CpuStepper, native_step_module

native = native_step_module()
needs_native = pytest.mark.skipif(native is None, reason="setup.py builds models/fused_step.c on Linux x86-64 only")


def test_it_is_built_on_linux_x86_64():
    """A failed build only warns at install (the extension is optional): here, where it must
    build, a silent fallback to the slower ATen path would be a regression nobody sees."""
    if sys.platform == "linux" and platform.machine() == "x86_64":
        assert native is not None, "models/fused_step.c did not build: reinstall with a C compiler (pip install -e .)"
    else:
        assert native is None


@needs_native
@pytest.mark.parametrize("top_k, top_p, temperature", [(5, None, 1.0), (1, None, 1.0), (12, 0.9, 0.7),
                                                       (None, None, 1.3), (None, 0.5, 1.0), (40, None, 0.5)])
def test_the_native_draw_is_the_python_rule(top_k, top_p, temperature):
    """The same id for the same logits and the same uniform draw, whichever side draws it."""
    torch.manual_seed(0)
    settings = SampleSettings(top_k=top_k, top_p=top_p, temperature=temperature)
    for vocab in (12, 40, 64):
        logits = torch.randn(vocab) * 3
        draw = _one_stream_draw(logits, settings)
        assert getattr(draw, "__name__", "") == "draw"  # the native one (not the Python fallback)
        python, ours = random.Random(7), random.Random(7)
        assert [_draw_one(logits, settings, python) for _ in range(400)] == [draw(logits, ours) for _ in range(400)]


@needs_native
def test_more_candidates_than_the_native_draw_takes_go_through_python():
    logits = torch.randn(100)
    draw = _one_stream_draw(logits, SampleSettings(top_k=None))
    assert getattr(draw, "__name__", "") != "draw"
    assert 0 <= draw(logits, random.Random(0)) < 100


@needs_native
@pytest.mark.parametrize("value, where", [(float("nan"), [3]), (float("inf"), [3]), (float("-inf"), list(range(20)))])
def test_the_native_draw_refuses_non_finite_outputs(value, where):
    """A NaN or +inf anywhere, or nothing but -inf (one -inf is a fine logit)."""
    logits = torch.zeros(20)
    logits[where] = value
    with pytest.raises(WorkbenchError, match="non-finite"):
        _one_stream_draw(logits, SampleSettings())(logits, random.Random(0))
    with pytest.raises(WorkbenchError, match="non-finite"):
        _draw_one(logits, SampleSettings(), random.Random(0))


@needs_native
def test_bad_arguments_are_errors_not_crashes():
    logits = torch.zeros(8)
    with pytest.raises(ValueError, match="k must be"):
        native.draw(logits.data_ptr(), 8, 0, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="k must be"):
        native.draw(logits.data_ptr(), 8, 9, 1.0, 1.0, 0.5)
    with pytest.raises(TypeError, match="expected 8 arguments"):
        native.lstm(1, 2, 3)


@needs_native
def test_a_damaged_state_shows_as_one_through_the_native_cells():
    """Compiled without fast-math's no-NaN assumption: a NaN in the state reaches the logits,
    and the draw refuses it, as on the ATen path."""
    model = CharRNN(ModelConfig(vocab_size=20, hidden=16, layers=2)).eval()
    hidden = tuple(h.clone() for h in model.init_hidden(1))
    hidden[1][0, 0, 3] = float("nan")
    with torch.inference_mode():
        stepper = CpuStepper(model, hidden, native=True)
        logits = stepper.step_one(2)
    assert torch.isnan(logits).all()
    with pytest.raises(WorkbenchError, match="non-finite"):
        _one_stream_draw(logits, SampleSettings())(logits, random.Random(0))


@needs_native
def test_loading_it_keeps_subnormal_numbers():
    """fast-math linked into a shared object sets flush-to-zero for the whole process, which
    would silently change training's numbers; setup.py does not use it."""
    assert (torch.tensor(1e-40) * 1.0).item() != 0.0
    assert (torch.tensor([1e-40]) * torch.ones(1)).item() != 0.0


@needs_native
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_native_and_aten_steps_stay_together_over_a_long_sample(cell):
    """Rounding differs between the two (vectorised expf against ATen's kernels); over
    hundreds of characters it must not grow."""
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=30, cell=cell, hidden=64, layers=2)).eval()
    with torch.inference_mode():
        ours, aten = (CpuStepper(model, model.init_hidden(1), native=n) for n in (True, False))
        worst = 0.0
        for t in range(500):
            char = (t * 7) % 30
            worst = max(worst, (ours.step_one(char) - aten.step_one(char)).abs().max().item())
    assert worst < 1e-4


@needs_native
def test_the_sampler_steps_natively_and_stays_deterministic():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=12, hidden=16, layers=2)).eval()
    vocab = list("abcdefghij .")
    settings = SampleSettings(length=200, prime="ab")
    first = generate(model, vocab, settings, seed=5)
    assert first == generate(model, vocab, settings, seed=5) and first != generate(model, vocab, settings, seed=6)
    assert CpuStepper(model, model.init_hidden(1)).native
