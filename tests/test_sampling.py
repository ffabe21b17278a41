import pytest
import torch

from workbench.engine.config import SampleSettings
from workbench.engine.errors import WorkbenchError
from workbench.engine.infer.sampling import filter_logits, generate, sample_stream
from workbench.models.charrnn import CharRNN, ModelConfig

VOCAB = list(" abcdefghij")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden=24, layers=2, dropout=0.0))
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)  # sharper distributions, so top-k actually cuts something
    return m.eval()


def test_same_seed_same_text_other_seed_other_text(model):
    s = SampleSettings(length=80, top_k=None, prime="abc")
    a = generate(model, VOCAB, s, seed=7)[0]
    b = generate(model, VOCAB, s, seed=7)[0]
    c = generate(model, VOCAB, s, seed=8)[0]
    assert a == b and a != c
    assert a.startswith("abc") and len(a) == 3 + 80


def test_several_samples_in_one_batch_are_independent_and_reproducible(model):
    s = SampleSettings(length=60, top_k=None, prime="a")
    batch = generate(model, VOCAB, s, num=3, seed=1)
    assert len(batch) == 3 and len(set(batch)) == 3
    assert batch == generate(model, VOCAB, s, num=3, seed=1)


def test_streaming_yields_one_character_per_step_on_the_cpu(model):
    pieces = list(sample_stream(model, VOCAB, SampleSettings(length=25, prime="ab"), seed=3))
    assert len(pieces) == 25 and all(len(p) == 1 and len(p[0]) == 1 for p in pieces)
    assert "ab" + "".join(p[0] for p in pieces) == generate(model, VOCAB, SampleSettings(length=25, prime="ab"), seed=3)[0]


@pytest.mark.parametrize("num", [1, 3])
def test_streams_interleaved_in_one_thread_leave_the_caller_s_grad_mode_alone(model, num):
    """A waiting stream holds no grad mode (they are thread-local): two streams taken in turns
    give each one's own text, and between their characters the caller trains as usual."""
    s = SampleSettings(length=40, prime="ab")
    alone = [generate(model, VOCAB, s, num=num, seed=seed) for seed in (1, 2)]
    first, second = sample_stream(model, VOCAB, s, num=num, seed=1), sample_stream(model, VOCAB, s, num=num, seed=2)
    texts = [["ab"] * num, ["ab"] * num]
    for index, (a, b) in enumerate(zip(first, second)):
        assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()
        texts[0] = [t + p for t, p in zip(texts[0], a)]
        texts[1] = [t + p for t, p in zip(texts[1], b)]
        if index == 10:
            first.close()  # the first ends early: the second goes on in no mode of the first's
            break
    texts[1] = [t + "".join(p) for t, p in zip(texts[1], zip(*second))]
    assert texts[0] == [t[:13] for t in alone[0]] and texts[1] == alone[1]
    assert not torch.is_inference_mode_enabled()


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_never_emits_a_character_outside_the_k_most_likely(model, k):
    text = generate(model, VOCAB, SampleSettings(length=200, top_k=k, prime="a"), seed=k)[0]
    ids = torch.tensor([VOCAB.index(ch) for ch in text])
    hidden = model.init_hidden(1)
    with torch.no_grad():
        for t in range(len(ids) - 1):
            logits, hidden = model.step(ids[t : t + 1], hidden)
            allowed = set(torch.topk(logits[0], k).indices.tolist())
            assert int(ids[t + 1]) in allowed, (t, text)


def test_top_k_1_is_greedy(model):
    text = generate(model, VOCAB, SampleSettings(length=30, top_k=1, prime="j"), seed=0)[0]
    other = generate(model, VOCAB, SampleSettings(length=30, top_k=1, prime="j"), seed=99)[0]
    assert text == other


def test_filter_logits_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    kept = torch.isfinite(filter_logits(probs.log(), None, 0.7, 1.0))[0].tolist()
    assert kept == [False, True, False, True]  # 0.5 + 0.3 reaches 0.7
    kept = torch.isfinite(filter_logits(probs.log(), None, 0.4, 1.0))[0].tolist()
    assert kept == [False, True, False, False]  # the most likely alone is enough
    kept = torch.isfinite(filter_logits(probs.log(), 2, 0.99, 1.0))[0].tolist()
    assert kept == [False, True, False, True]  # top-k applies first


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    cold = torch.softmax(filter_logits(logits, None, None, 0.5), -1)
    hot = torch.softmax(filter_logits(logits, None, None, 2.0), -1)
    assert cold[0, 2] > torch.softmax(logits, -1)[0, 2] > hot[0, 2]


def test_a_prime_with_unknown_characters_is_refused_listing_them(model):
    with pytest.raises(WorkbenchError) as info:
        generate(model, VOCAB, SampleSettings(length=5, prime="abXcZ"))
    assert "X" in str(info.value) and "Z" in str(info.value)


def test_bad_settings_are_refused():
    for bad in (dict(temperature=0.0), dict(top_p=1.5), dict(length=0), dict(top_k=-1), dict(prime="")):
        with pytest.raises(WorkbenchError):
            SampleSettings(**bad).validate()


@pytest.mark.parametrize("top_k,top_p,temperature", [(5, None, 1.0), (None, 0.8, 0.7), (4, 0.6, 1.5), (None, None, 1.0)])
def test_a_single_stream_draws_by_the_same_rule_as_the_batched_path(top_k, top_p, temperature):
    """One stream picks in plain Python; its choices must follow `filter_logits` + softmax."""
    import random

    from workbench.engine.infer.sampling import _draw_one

    torch.manual_seed(5)
    logits = torch.randn(12) * 2
    settings = SampleSettings(top_k=top_k, top_p=top_p, temperature=temperature)
    expected = torch.softmax(filter_logits(logits.unsqueeze(0), top_k, top_p, temperature), -1)[0]
    rng = random.Random(0)
    draws = 20_000
    counts = torch.bincount(torch.tensor([_draw_one(logits, settings, rng) for _ in range(draws)]), minlength=12)
    assert torch.all(counts[expected == 0] == 0)  # never outside the kept set
    assert torch.allclose(counts / draws, expected, atol=0.015)


def test_non_finite_model_outputs_give_a_clear_error():
    import random

    from workbench.engine.infer.sampling import _draw_one

    with pytest.raises(WorkbenchError, match="non-finite"):
        _draw_one(torch.full((5,), float("nan")), SampleSettings(), random.Random(0))
