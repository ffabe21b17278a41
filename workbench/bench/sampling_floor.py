"""The floor of one sampling stream: the time per character of the products that any exact
implementation must do, on the same weights and the same threads as our sampler.

Generating a character feeds one id through every layer and the output layer. Whatever the
implementation, it must compute, per character: each layer's recurrent product (G*H x H times
h), each layer's input product past the first (G*H x H times the layer below's h; layer 0's
input is a one-hot, a row lookup), and the output layer (V x H times the last h). Those are
matrix-vector products that read every weight once: on a CPU they are bound by memory
traffic. The floor times exactly those, as `torch.mv` into preallocated outputs, with nothing
between them (no gates, no sampling, no Python per character beyond the calls themselves);
ours divided by it says how much of a character's time is anything else."""
from __future__ import annotations

import time
from typing import Any

FLOOR_CHARS = 2000
"""Characters timed (each a full set of products), after a warm-up of a tenth of that."""


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


def floor_seconds_per_char(model: Any, chars: int = FLOOR_CHARS) -> float:
    """Seconds per character of the products alone (best of three rounds)."""
    import torch

    products = _products(model)
    with torch.inference_mode():
        for _ in range(max(1, chars // 10)):
            for weight, vector, out in products:
                torch.mv(weight, vector, out=out)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(chars):
                for weight, vector, out in products:
                    torch.mv(weight, vector, out=out)
            best = min(best, (time.perf_counter() - t0) / chars)
    return best


def floor_figures(model: Any, ours_chars_per_sec: float) -> dict[str, Any]:
    """The floor's chars/s and ours as a fraction of it (1.0: nothing but the products)."""
    floor = 1.0 / floor_seconds_per_char(model)
    weight_bytes = sum(w.numel() * w.element_size() for w, _, _ in _products(model))
    return {"sample_floor_chars_per_sec": floor, "sample_vs_floor": ours_chars_per_sec / floor,
            "sample_floor_weight_bytes": weight_bytes}
