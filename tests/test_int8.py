"""`--quantize int8`: weight-only int8 of a session's model for sampling (models/int8.py,
engine/infer/quantized.py): the arithmetic, its determinism and top-k, and what the CLI says of it."""
import json

import pytest
import torch

from workbench.engine.infer.quantized import int8_copy
from workbench.models.cpu_stepper import CpuStepper

from support import check_sampling_path, make_session, run_cli, run_trainer, sharp_model, small_text

VOCAB = list(" abcdefghij")


@pytest.fixture(scope="module", params=["lstm", "gru", "rnn"])
def models(request):
    fp32 = sharp_model(len(VOCAB), cell=request.param)
    return fp32, int8_copy(fp32).eval()


def test_the_weights_are_rounded_to_int8_rows_and_the_original_is_untouched(models):
    fp32, int8 = models
    for name, packed in int8.int8.items():
        original = fp32.get_parameter(name).detach()
        assert packed.weight.dtype == torch.int8 and packed.weight.abs().max() <= 127
        rounded = int8.get_parameter(name).detach()
        assert not torch.equal(rounded, original)  # rounded ...
        step = original.abs().amax(dim=1, keepdim=True) / 127
        assert ((rounded - original).abs() <= step / 2 + 1e-6).all()  # ... to the nearest of 255 levels a row


def test_the_int8_steps_are_the_rounded_model(models):
    """One stream and several (stacked int8 products, models/cpu_stepper.py)."""
    _, int8 = models
    ids = torch.tensor([1, 4, 2, 9, 0, 3, 3, 7])
    with torch.no_grad():
        logits, _ = int8(ids.unsqueeze(0), int8.init_hidden(1))
    one = CpuStepper(int8, int8.init_hidden(1), int8.int8)
    assert {p.layout for p in one.products} == {"int8, row-major"}
    stepped = torch.stack([one.step_one(int(i)).clone() for i in ids])
    streams = CpuStepper(int8, int8.init_hidden(3), int8.int8)
    batch = torch.stack([streams.step(torch.full((3,), int(i))).clone() for i in ids])  # (chars, 3, V)
    # the same weights; only the activations go through bf16 in the int8 products
    tolerance = 0.05 * logits.abs().max().item()
    assert torch.allclose(stepped, logits[0], atol=tolerance), (stepped - logits[0]).abs().max()
    assert torch.allclose(batch, logits[0].unsqueeze(1).expand(-1, 3, -1), atol=tolerance)


def test_int8_sampling_is_deterministic_and_keeps_to_top_k(models):
    _, int8 = models
    check_sampling_path(int8, VOCAB, lambda hidden: CpuStepper(int8, hidden, int8.int8))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("int8")
    corpus = small_text(tmp)
    session = make_session(tmp / "sessions", corpus, "q", hidden=32, layers=1, checkpoint_every=10, threads=1)
    final, _ = run_trainer(session, steps=10)
    assert final.kind == "finished"
    gru = make_session(tmp / "sessions", corpus, "g", cell="gru", hidden=16, layers=1, checkpoint_every=5, threads=1)
    run_trainer(gru, steps=5)
    return tmp / "sessions", corpus


def test_sample_with_int8_says_its_speed_and_cost_and_is_never_the_default(trained):
    sessions, _ = trained
    r = run_cli("sample", "q", "--quantize", "int8", "--prime", "T", "--length", "30", "--seed", "1",
                "--sessions-dir", str(sessions))
    assert r.returncode == 0, r.stderr
    assert ", int8]" in r.stderr and "note: int8 weights: " in r.stderr and " chars/s against " in r.stderr
    assert "bits/char against fp32" in r.stderr and "characters of the validation text" in r.stderr, r.stderr
    r = run_cli("sample", "q", "--quantize", "int8", "--prime", "T", "--length", "30", "--json",
                "--sessions-dir", str(sessions))
    out = json.loads(r.stdout)
    assert out["precision"] == "int8" and "bits/char against fp32" in out["quantized"]
    plain = json.loads(run_cli("sample", "q", "--prime", "T", "--length", "5", "--json",
                               "--sessions-dir", str(sessions)).stdout)
    assert plain["precision"] == "fp32" and plain["quantized"] is None


def test_int8_on_a_gru_and_without_the_text_is_measured_or_said_in_one_line(trained):
    sessions, corpus = trained
    r = run_cli("probe", "g", "--prime", "T", "--quantize", "int8", "--sessions-dir", str(sessions))
    assert r.returncode == 0 and "bits/char against fp32" in r.stderr, r.stderr  # a GRU: int8 too
    moved = corpus.with_suffix(".moved")
    corpus.rename(moved)
    try:
        r = run_cli("probe", "q", "--prime", "T", "--quantize", "int8", "--sessions-dir", str(sessions))
    finally:
        moved.rename(corpus)
    assert r.returncode == 0 and "its cost in bits/char is not measured (its text:" in r.stderr, r.stderr


@pytest.mark.parametrize("rows,width", [(1, 8), (11, 24), (83, 40), (96, 100), (64, 256)])
def test_the_int8_product_is_right_at_any_width(rows, width):
    """torch's int8 kernel is wrong (or crashes) unless the width is a multiple of 16: padded."""
    from workbench.models.int8 import K_BLOCK, Packed, _rounded

    torch.manual_seed(rows)
    weight, scales = _rounded(torch.randn(rows, width))
    padded = torch.nn.functional.pad(weight, (0, -width % K_BLOCK)).contiguous()
    packed = Packed(padded, scales.to(torch.bfloat16))
    for batch in (1, 3, 8):
        x = torch.randn(batch, width)
        exact = x @ (weight.float() * scales[:, None]).t()
        assert torch.allclose(packed.times(x).float(), exact, atol=0.03 * exact.abs().max().item() + 1e-3)
