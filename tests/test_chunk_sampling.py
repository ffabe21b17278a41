"""Sampling in device-resident chunks (the accelerator path, engine/infer/chunk_sampling.py): the draw by
inverse CDF keeps the top-k and top-p rules, chunks carry the state exactly (any chunk size gives
the same text), a seed gives the same text, and the last chunk is cut to the length asked for. All
of it runs eagerly on the CPU; the CUDA graph's replay is checked against the eager chunk where a
GPU is present."""
import pytest
import torch

from workbench.engine.infer.chunk_sampling import ChunkSampler, draw_with_uniform, stream_in_chunks
from workbench.engine.config import SampleSettings
from workbench.engine.infer.sampling import sample_stream
from workbench.models.charrnn import CharRNN, ModelConfig
from workbench.models.stepper import CharStepper

VOCAB = list(" abcdefghij")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden=24, layers=2, dropout=0.0))
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)  # sharper distributions, so top-k and top-p cut something
    return m.eval()


def sampler_for(model, settings: SampleSettings, *, num: int, seed: int, chunk: int, device: str = "cpu",
                graph: bool = False) -> ChunkSampler:
    model = model.to(device)
    with torch.inference_mode():
        logits, hidden = model.read(torch.tensor([VOCAB.index(c) for c in settings.prime], device=device),
                                    model.init_hidden(1, torch.device(device)))
        hidden = tuple(h.expand(-1, num, -1).contiguous() for h in hidden)
        return ChunkSampler(CharStepper(model, hidden), logits.expand(num, -1), settings, seed, chunk=chunk,
                            graph=graph)


def text_of(sampler: ChunkSampler, length: int) -> list[str]:
    with torch.inference_mode():
        pieces = list(stream_in_chunks(sampler, VOCAB, length))
    return ["".join(p[i] for p in pieces) for i in range(len(pieces[0]))]


def test_the_draw_inverts_the_cumulative_distribution_of_the_candidates():
    logits = torch.tensor([[0.0, 2.0, 1.0, -1.0]])
    probs = torch.softmax(logits[0], 0)  # order by likelihood: 1, 2, 0, 3
    full = SampleSettings(top_k=None)
    cdf = probs.cumsum(0)
    for u in (0.0, 0.2, float(cdf[0]) - 1e-4, float(cdf[0]) + 1e-4, 0.7, 0.999):
        expected = int((cdf <= u * cdf[-1]).sum())
        assert int(draw_with_uniform(logits, full, torch.tensor([u]))) == expected
    top2 = SampleSettings(top_k=2)
    picks = {int(draw_with_uniform(logits, top2, torch.tensor([u / 100]))) for u in range(100)}
    assert picks == {1, 2}  # the two most likely, both reachable
    assert int(draw_with_uniform(logits, top2, torch.tensor([0.0]))) == 1  # the most likely first
    nucleus = SampleSettings(top_k=None, top_p=0.5)  # 1 alone holds more than half the mass
    assert {int(draw_with_uniform(logits, nucleus, torch.tensor([u / 100]))) for u in range(100)} == {1}


def test_the_temperature_sharpens_the_draw():
    logits = torch.tensor([[0.0, 1.0]])
    uniform = torch.tensor([0.2])  # picks 0 at t=1 (p0 = 0.27), not at t=0.5 (p0 = 0.12)
    assert int(draw_with_uniform(logits, SampleSettings(top_k=None, temperature=1.0), uniform)) == 0
    assert int(draw_with_uniform(logits, SampleSettings(top_k=None, temperature=0.5), uniform)) == 1


@pytest.mark.parametrize("num", [1, 3])
def test_any_chunk_size_gives_the_same_text(model, num):
    settings = SampleSettings(length=70, top_k=5, prime="ab")
    small = text_of(sampler_for(model, settings, num=num, seed=4, chunk=8), 70)
    large = text_of(sampler_for(model, settings, num=num, seed=4, chunk=70), 70)
    assert small == large and all(len(t) == 70 for t in small)
    assert text_of(sampler_for(model, settings, num=num, seed=5, chunk=8), 70) != small


def test_the_chunked_text_follows_the_network_and_the_top_k_rule(model):
    settings = SampleSettings(length=90, top_k=3, prime="a")
    sampler = sampler_for(model, settings, num=1, seed=2, chunk=16)
    text = text_of(sampler, 90)[0]
    ids = [VOCAB.index(c) for c in "a" + text]
    hidden = model.init_hidden(1)
    with torch.no_grad():  # the model's own forward, step by step: each pick among its top 3
        for t in range(len(ids) - 1):
            logits, hidden = model.step(torch.tensor(ids[t : t + 1]), hidden)
            assert ids[t + 1] in set(torch.topk(logits[0], 3).indices.tolist()), (t, text)


def test_the_last_chunk_is_cut_to_the_length(model):
    sampler = sampler_for(model, SampleSettings(length=70, prime="a"), num=2, seed=0, chunk=32)
    with torch.inference_mode():
        sizes = [len(p[0]) for p in stream_in_chunks(sampler, VOCAB, 70)]
    assert sizes == [32, 32, 6]


def test_a_graph_asked_for_without_cuda_falls_back_to_the_eager_chunk(model):
    if torch.cuda.is_available():
        pytest.skip("CUDA is here: the graph itself is checked (test_the_cuda_graph_replays_the_eager_chunk)")
    settings = SampleSettings(length=40, top_k=5, prime="ab")
    sampler = sampler_for(model, settings, num=1, seed=4, chunk=8, graph=True)
    assert sampler.graph is None and sampler.graph_error
    assert text_of(sampler, 40) == text_of(sampler_for(model, settings, num=1, seed=4, chunk=8), 40)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the graph is a CUDA graph")
@pytest.mark.parametrize("num", [1, 64])
def test_the_cuda_graph_replays_the_eager_chunk(model, num):
    settings = SampleSettings(length=100, top_k=5, prime="ab")
    graphed = sampler_for(model, settings, num=num, seed=9, chunk=32, device="cuda", graph=True)
    assert graphed.graph is not None, graphed.graph_error
    eager = sampler_for(model, settings, num=num, seed=9, chunk=32, device="cuda")
    assert text_of(graphed, 100) == text_of(eager, 100)
    # through sample_stream, as `workbench sample --device cuda` runs it: the same seed, the same text
    runs = [["".join(p) for p in zip(*sample_stream(model.cuda(), VOCAB, settings, num=num, seed=3))] for _ in range(2)]
    assert runs[0] == runs[1] and all(len(t) == 100 for t in runs[0])
    model.cpu()
