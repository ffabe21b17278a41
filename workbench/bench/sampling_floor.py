"""The floor of one sampling stream: the time per character of the products that any exact
implementation must do, on the same weights and the same threads as our sampler.

Generating a character feeds one id through every layer and the output layer. Whatever the
implementation, it must compute, per character: each layer's recurrent product (G*H x H times
h), each layer's input product past the first (G*H x H times the layer below's h; layer 0's
input is a one-hot, a row lookup), and the output layer (V x H times the last h). Those are
matrix-vector products that read every weight once: on a CPU they are bound by memory
traffic. The floor times exactly those, as `torch.mv` into preallocated outputs, with nothing
between them (no gates, no sampling, no Python per character beyond the calls themselves);
ours divided by it says how much of a character's time is anything else. Both are timed in
alternating rounds and each keeps its best, so that the machine's noise (a third between runs
here) falls on both sides alike rather than on ours alone."""
from __future__ import annotations

import time
from typing import Any, Callable

FLOOR_CHARS = 2000
"""Characters timed (each a full set of products), after a warm-up of a tenth of that."""
ROUNDS = 3
"""Alternating rounds of ours and the floor; the best of each is compared."""


def _products(model: Any) -> list[tuple[Any, Any, Any]]:
    """(weight, input vector, output vector) of each product of one character, in order."""
    import torch

    rnn, layers = model.rnn, model.config.layers
    dtype, device = model.fc.weight.dtype, model.fc.weight.device
    hidden = model.config.hidden
    products = []
    for layer in range(layers):
        w_hh = getattr(rnn, f"weight_hh_l{layer}").detach()
        if layer:
            w_ih = getattr(rnn, f"weight_ih_l{layer}").detach()
            products.append((w_ih, torch.randn(hidden, dtype=dtype, device=device),
                             torch.empty(w_ih.shape[0], dtype=dtype, device=device)))
        products.append((w_hh, torch.randn(hidden, dtype=dtype, device=device),
                         torch.empty(w_hh.shape[0], dtype=dtype, device=device)))
    fc = model.fc.weight.detach()
    products.append((fc, torch.randn(hidden, dtype=dtype, device=device),
                     torch.empty(fc.shape[0], dtype=dtype, device=device)))
    return products


def floor_seconds_per_char(model: Any, chars: int = FLOOR_CHARS, rounds: int = ROUNDS) -> float:
    """Seconds per character of the products alone (best of `rounds` rounds)."""
    import torch

    products = _products(model)
    with torch.inference_mode():
        for _ in range(max(1, chars // 10)):
            for weight, vector, out in products:
                torch.mv(weight, vector, out=out)
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(chars):
                for weight, vector, out in products:
                    torch.mv(weight, vector, out=out)
            best = min(best, (time.perf_counter() - t0) / chars)
    return best


def floor_figures(model: Any, time_ours: Callable[[], float], rounds: int = ROUNDS) -> dict[str, Any]:
    """The floor's chars/s, ours (`time_ours()`: chars/s of one stream) at its best over the same
    alternating rounds, and ours as a fraction of the floor (1.0: nothing but the products)."""
    ours, floor = 0.0, 0.0
    for _ in range(rounds):
        ours = max(ours, time_ours())
        floor = max(floor, 1.0 / floor_seconds_per_char(model, rounds=1))
    weight_bytes = sum(w.numel() * w.element_size() for w, _, _ in _products(model))
    return {"sample_floor_chars_per_sec": floor, "sample_best_chars_per_sec": ours, "sample_vs_floor": ours / floor,
            "sample_floor_rounds": rounds, "sample_floor_weight_bytes": weight_bytes}
