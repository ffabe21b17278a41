"""The floor of one sampling stream: the time per character of the products that any exact
implementation must do, on the same weights and the same threads as our sampler.

Generating a character feeds one id through every layer and the output layer. Whatever the
implementation, it must compute, per character: each layer's recurrent product (G*H x H times
h), each layer's input product past the first (G*H x H times the layer below's h; layer 0's
input is a one-hot, a row lookup), and the output layer (V x H times the last h). Those are
matrix-vector products that read every weight once: on a CPU they are bound by memory
traffic. The floor times those products with nothing between them (no gates, no sampling, no
Python per character beyond the calls), two ways:

* as stored: one `torch.mv` per product on the model's own row-major weights, into
  preallocated outputs (the floor as first defined);
* stacked as ours does them (models/cpu_stepper.py), by the vector they multiply (2 calls a
  character at 2 layers), each product in the fastest of every fp32 kernel we have (MKL's
  matrix-vector product on column-major weights, oneDNN's on its packed ones; picked by
  timing each product alone), whichever our sampler's rule picks, and then timed in sequence,
  as a character does them. That is faster than the first (the same bytes, fewer and faster
  calls), so it is the floor the goal is against: ours divided by it is the share of a
  character's time that is the products at all.

The sequence, not the sum of each product timed alone: a product repeated on its own keeps
more of its weights in the cache from one call to the next than it can when a character's
other products pass through between (at 512x2 the two stacked products, 8.4 and 4.4 MB, took
up to 15% longer in sequence than the sum of their times alone; 2-core AMD EPYC, 2026-12-03).
And the sum of separately kept bests is lower than any one character's time on a noisy machine.

Ours and both floors are timed in alternating rounds and each keeps its best, so that the
machine's noise (a third between runs here) falls on all alike rather than on ours alone."""
from __future__ import annotations

import time
from typing import Any, Callable

FLOOR_CHARS = 500
"""Characters timed a round (each a full set of products; ours: one stream's next characters),
after a warm-up of a tenth of that."""
ROUNDS = 15
"""Alternating rounds of ours and the floors; the best of each is compared. Many short rounds
rather than a few long ones: this machine's slow spells last seconds, and a round that falls
between them shows what the code costs."""


def _as_stored(model: Any) -> list[Callable[[], Any]]:
    """One `torch.mv` per product of a character, on the model's weights as stored, in order."""
    import functools

    import torch

    rnn, layers = model.rnn, model.config.layers
    dtype, device = model.fc.weight.dtype, model.fc.weight.device
    weights = []
    for layer in range(layers):
        if layer:
            weights.append(getattr(rnn, f"weight_ih_l{layer}").detach())
        weights.append(getattr(rnn, f"weight_hh_l{layer}").detach())
    weights.append(model.fc.weight.detach())
    return [functools.partial(torch.mv, w, torch.randn(w.shape[1], dtype=dtype, device=device),
                              out=torch.empty(w.shape[0], dtype=dtype, device=device)) for w in weights]


def _stacked(model: Any) -> list[list[tuple[str, Callable[[], Any]]]]:
    """Each stacked product of our one-stream step, in every layout that its dtype has a
    kernel for (fp32: MKL column-major and oneDNN; otherwise the sampler's own), as (layout,
    call)."""
    import torch

    from workbench.models.cpu_stepper import ONEDNN, CpuStepper

    layouts: list = [None]
    if model.fc.weight.dtype == torch.float32 and model.fc.weight.device.type == "cpu":
        layouts = [layout for layout, available in (("column-major", torch.backends.mkl.is_available()),
                                                    (ONEDNN, torch.backends.mkldnn.is_available())) if available] or [None]
    steppers = [CpuStepper(model, model.init_hidden(1), layout=layout) for layout in layouts]
    return [[(stepper.products[index].layout, stepper.products[index].run) for stepper in steppers]
            for index in range(len(steppers[0].products))]


def _seconds_per_char(calls: list[Callable[[], Any]], chars: int, rounds: int) -> float:
    import torch

    with torch.inference_mode():
        for _ in range(max(1, chars // 10)):
            for call in calls:
                call()
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(chars):
                for call in calls:
                    call()
            best = min(best, (time.perf_counter() - t0) / chars)
    return best


def fastest_kernels(model: Any, chars: int = FLOOR_CHARS // 4) -> list[tuple[str, Callable[[], Any]]]:
    """Each stacked product of a character in its fastest kernel here, timed alone: (the
    kernel's layout, the call)."""
    import torch

    with torch.inference_mode():
        products = _stacked(model)
    picked = []
    for kernels in products:
        seconds = [_seconds_per_char([run], chars, 1) for _, run in kernels]
        picked.append(kernels[seconds.index(min(seconds))])
    return picked


def floor_seconds_per_char(model: Any, chars: int = FLOOR_CHARS, rounds: int = ROUNDS, how: str = "ours",
                           kernels: list[tuple[str, Callable[[], Any]]] | None = None) -> float:
    """Seconds per character of the products alone (best of `rounds` rounds): stacked as our
    sampler does them, each in its fastest kernel (`kernels`, else `fastest_kernels`), in
    sequence (`how="ours"`), or one `torch.mv` each on the weights as stored."""
    import torch

    if how != "ours":
        with torch.inference_mode():
            calls = _as_stored(model)
        return _seconds_per_char(calls, chars, rounds)
    return _seconds_per_char([run for _, run in kernels or fastest_kernels(model)], chars, rounds)


def floor_figures(model: Any, time_ours: Callable[[], float], rounds: int = ROUNDS) -> dict[str, Any]:
    """The floors' chars/s, ours (`time_ours()`: chars/s of one stream) at its best over the
    same alternating rounds, and ours as a fraction of each floor (1.0: nothing but the products)."""
    from workbench.models.cpu_stepper import CpuStepper

    kernels = fastest_kernels(model)
    ours, floor, as_stored = 0.0, 0.0, 0.0
    for _ in range(rounds):
        ours = max(ours, time_ours())
        floor = max(floor, 1.0 / floor_seconds_per_char(model, rounds=1, how="ours", kernels=kernels))
        as_stored = max(as_stored, 1.0 / floor_seconds_per_char(model, rounds=1, how="stored"))
    stepper = CpuStepper(model, model.init_hidden(1))
    products = stepper.products
    return {"sample_elementwise": "native" if stepper.native else "ATen",
            "sample_floor_chars_per_sec": floor, "sample_best_chars_per_sec": ours, "sample_vs_floor": ours / floor,
            "sample_floor_as_stored_chars_per_sec": as_stored, "sample_vs_floor_as_stored": ours / as_stored,
            "sample_floor_calls": len(products), "sample_floor_as_stored_calls": 2 * model.config.layers,
            "sample_floor_layout": " + ".join(p.layout for p in products),
            "sample_floor_kernels": " + ".join(layout for layout, _ in kernels),
            "sample_floor_rounds": rounds, "sample_floor_chars": FLOOR_CHARS, "sample_floor_weight_bytes": sum(p.matrix_bytes for p in products)}
