"""Looking inside a model: its next-character distribution after a prime, and how surprising
it finds each character of a text (bits = -log2 p).

The one definition of a text's score, shared by `workbench score`, the studio's surprisal view
and the tests: the characters are fed one after another from a zero hidden state (dropout off);
every character after the first is predicted from the ones before it and scored; the first has
nothing to be predicted from and is not scored. The mean over the scored characters is the
text's bits per character. This is how the validation loss is measured too (hidden carried from
zeros), in bits instead of nats.

torch is imported inside the functions that compute, so the pure helper here (the top-k / top-p
cut) costs nothing to import.
"""
from __future__ import annotations

import math
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from workbench.engine.corpus.encode import describe_unknown, unknown_chars
from workbench.engine.errors import WorkbenchError
from workbench.engine.units import LN2
from workbench.models.cells import READ_CHUNK

CHUNK = READ_CHUNK  # positions per forward: bounds the (chunk x vocab) logits of a long text

if TYPE_CHECKING:
    import torch



# -- pure helpers (no torch) -----------------------------------------------------------------
def sampling_cut(probs: Sequence[float], top_k: int | None, top_p: float | None, temperature: float = 1.0) -> int:
    """How many of the characters, `probs` sorted from the most likely down, the sampler can draw
    with these settings: the same rule as `sampling.filter_logits` (temperature first, then the
    top k, then the smallest set whose mass reaches p among those). Pure Python: the studio marks
    its bars with it as the settings are typed."""
    n = len(probs)
    if n == 0:
        return 0
    keep = min(top_k, n) if top_k else n
    if top_p is None or top_p >= 1.0:
        return keep
    # p ** (1 / T), renormalised over the kept ones (logs, so tiny p never underflow to 0)
    logs = [math.log(p) / temperature if p > 0 else -math.inf for p in probs[:keep]]
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total = sum(weights)
    mass = 0.0
    for i, w in enumerate(weights):
        if i > 0 and mass >= top_p:  # the mass before it already reaches p (the first always stays)
            return i
        mass += w / total
    return keep


# -- the model's view --------------------------------------------------------------------------
def _ids(text: str, vocab: Sequence[str], device: "torch.device") -> "torch.Tensor":
    import torch

    from workbench.engine.corpus.encode import encode_text

    return torch.as_tensor(encode_text(text, list(vocab)).astype("int64"), device=device)


def next_char_distribution(model: "torch.nn.Module", vocab: Sequence[str], prime: str) -> list[tuple[str, float]]:
    """Every character with the model's probability that it comes next after `prime` (fed from a
    zero hidden state, dropout off), the most likely first."""
    import torch

    if not prime:
        raise WorkbenchError("the prime is empty; the model needs at least one character to predict the next")
    device = next(model.parameters()).device
    ids = _ids(prime, vocab, device)
    with _evaluating(model):
        logits, _ = model.read(ids, model.init_hidden(1, device))
        probs = torch.softmax(logits[0].float(), dim=-1).cpu().tolist()
    return sorted(zip(vocab, probs), key=lambda item: -item[1])


def surprisal(model: "torch.nn.Module", vocab: Sequence[str], text: str) -> tuple[list[float], float]:
    """Bits (-log2 p) of each character of `text` after the first, as the model predicts it from
    the characters before it (fed from a zero hidden state, dropout off), and their mean.
    `per_char_bits[i]` is the surprisal of `text[i + 1]`. Every character must be in `vocab`."""
    import torch

    if len(text) < 2:
        raise WorkbenchError("the text needs at least two characters: the first is only context, the rest are scored")
    device = next(model.parameters()).device
    with _evaluating(model):
        bits = torch.cat(list(_bits(model, [_ids(text, vocab, device)])))
    return bits.cpu().tolist(), float(bits.mean())


def _bits(model: "torch.nn.Module", pieces: Iterable["torch.Tensor"]) -> Iterator["torch.Tensor"]:
    """The surprisal, in bits, of every character after the first of the ids `pieces` hold one
    after another, a chunk at a time: the hidden state (and the last character) carried from
    piece to piece and chunk to chunk, so that the numbers are those of one forward over the
    whole text while memory holds one chunk's (chunk x vocab) logits. Call under _evaluating."""
    import torch

    device = next(model.parameters()).device
    hidden = model.init_hidden(1, device)
    last: torch.Tensor | None = None
    for ids in pieces:
        for start in range(0, ids.shape[0], CHUNK):
            part = ids[start : start + CHUNK]
            inputs = part[:-1] if last is None else torch.cat([last, part[:-1]])
            targets = part[1:] if last is None else part
            last = part[-1:]
            if inputs.numel() == 0:
                continue
            logits, hidden = model(inputs.unsqueeze(0), hidden)
            logp = torch.log_softmax(logits[0].double(), dim=-1)
            yield -logp.gather(1, targets.unsqueeze(1)).squeeze(1) / LN2


@contextmanager
def _evaluating(model: "torch.nn.Module") -> Iterator[None]:
    """Dropout off and no autograd for the duration; the model's mode restored after."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


@dataclass
class Score:
    """A text scored under a model (see the module docstring for the definition)."""

    chars: int
    """Characters in the text as given."""
    scored: int
    """Characters scored: those in the vocabulary, less the first of them."""
    mean_bits: float
    """Mean surprisal over the scored characters, in bits per character."""
    total_bits: float
    bits: list[float | None] = field(default_factory=list)
    """Per character of the text as given: its bits, or None (the first known character, and
    characters outside the vocabulary)."""
    unknown: dict[str, int] = field(default_factory=dict)
    """Characters outside the vocabulary and how often each occurs (dropped before scoring)."""

    @property
    def mean_nats(self) -> float:
        return self.mean_bits * LN2

    @property
    def dropped(self) -> int:
        return sum(self.unknown.values())


def score_text(model: "torch.nn.Module", vocab: Sequence[str], text: str, *, skip_unknown: bool = False) -> Score:
    """`surprisal` of a text, with characters outside the vocabulary either an error that lists
    them or (`skip_unknown`) dropped first: the model reads the text without them."""
    unknown = unknown_chars(text, vocab)
    counts: dict[str, int] = {}
    kept, positions = text, None
    if unknown:
        if not skip_unknown:
            raise WorkbenchError(_unknown_message(unknown))
        missing = set(unknown)
        all_counts = Counter(ch for ch in text if ch in missing)
        counts = {ch: all_counts[ch] for ch in unknown}
        positions = [i for i, ch in enumerate(text) if ch not in missing]
        kept = "".join(text[i] for i in positions)
    if len(kept) < 2:
        extra = " once characters outside the vocabulary are dropped" if unknown else ""
        raise WorkbenchError(f"the text needs at least two characters{extra}: the first is only context, the rest are scored")
    per_char, mean = surprisal(model, vocab, kept)
    bits: list[float | None] = [None] * len(text)
    where = positions if positions is not None else range(len(text))
    for pos, value in zip(list(where)[1:], per_char):
        bits[pos] = value
    return Score(chars=len(text), scored=len(per_char), mean_bits=mean, total_bits=math.fsum(per_char),
                 bits=bits, unknown=counts)


def score_pieces(model: "torch.nn.Module", vocab: Sequence[str], pieces: Iterable[str], *,
                 skip_unknown: bool = False, on_scored: Callable[[int], None] | None = None) -> Score:
    """`score_text`'s numbers for a text that arrives in pieces (`corpus.text.text_pieces`),
    with memory that does not grow with its length: no per-character bits are kept, and the
    sum is exact to the float (math.fsum of per-chunk float64 sums). Characters outside the
    vocabulary are dropped (`skip_unknown`) or an error at the first piece holding one.
    `on_scored` hears how many characters have been scored so far, after each piece."""
    device = next(model.parameters()).device
    known = set(vocab)
    counts: Counter[str] = Counter()
    chars = 0
    sums: list[float] = []
    scored = 0

    def ids_of_pieces() -> Iterator["torch.Tensor"]:
        nonlocal chars
        for piece in pieces:
            missing = set(piece) - known
            if missing:
                if not skip_unknown:
                    raise WorkbenchError(_unknown_message(sorted(missing), f" (the first after {chars:,} characters)"))
                counts.update({ch: piece.count(ch) for ch in missing})
                chars += len(piece)
                piece = piece.translate({ord(ch): None for ch in missing})
            else:
                chars += len(piece)
            if piece:
                yield _ids(piece, vocab, device)

    with _evaluating(model):
        for bits in _bits(model, ids_of_pieces()):
            sums.append(float(bits.sum()))
            scored += bits.numel()
            if on_scored is not None:
                on_scored(scored)
    if scored == 0:
        extra = " once characters outside the vocabulary are dropped" if counts else ""
        raise WorkbenchError(f"the text needs at least two characters{extra}: the first is only context, the rest are scored")
    total = math.fsum(sums)
    return Score(chars=chars, scored=scored, mean_bits=total / scored, total_bits=total,
                 unknown={ch: counts[ch] for ch in sorted(counts)})


def _unknown_message(unknown: Sequence[str], where: str = "") -> str:
    return (f"the text has {len(unknown)} character(s) the model never saw{where}: {describe_unknown(unknown)}; "
            "remove them, or pass --skip-unknown to drop them before scoring")
