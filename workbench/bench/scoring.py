"""How fast `workbench score` reads a text, against its floor: the same model's fused forward
over the same characters at batch 1 with nothing else (no log-softmax, no gather, no text
handling), timed back to back in this process. A ratio near 1 says scoring costs what the
recurrence costs; the issue this answers measured 7,600 chars/s when each character was kept
as a Python float."""
from __future__ import annotations

import time
from typing import Any

SCORE_CHARS = 50_000
"""Characters scored: enough for several of score's chunks, few enough for a 512x2 model on 2 cores."""


def measure_scoring(model: Any, corpus: Any, chars: int = SCORE_CHARS) -> dict[str, Any]:
    import torch

    from workbench.engine.corpus.text import PIECE_BYTES
    from workbench.engine.infer.probe import score_pieces

    text = corpus.decode(corpus.ids[:chars])
    pieces = [text[i : i + PIECE_BYTES] for i in range(0, len(text), PIECE_BYTES)]  # as text_pieces hands them over
    device = next(model.parameters()).device
    ids = torch.as_tensor(corpus.ids[:chars].astype("int64"), device=device)
    model.eval()
    with torch.inference_mode():
        model.read(ids[:1000], model.init_hidden(1, device))  # warm-up
    figures: dict[str, Any] = {"score_chars": len(text)}
    for attempt in range(2):  # alternated, best of two each: a busy machine's noise hits both alike
        t0 = time.perf_counter()
        score = score_pieces(model, corpus.vocab, pieces)
        ours = time.perf_counter() - t0
        with torch.inference_mode():
            t0 = time.perf_counter()
            model.read(ids, model.init_hidden(1, device))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            floor = time.perf_counter() - t0
        figures["score_seconds"] = min(ours, figures.get("score_seconds", ours))
        figures["score_floor_seconds"] = min(floor, figures.get("score_floor_seconds", floor))
    figures["score_bits"] = score.mean_bits
    figures["score_chars_per_sec"] = figures["score_chars"] / figures["score_seconds"]
    figures["score_floor_chars_per_sec"] = figures["score_chars"] / figures["score_floor_seconds"]
    figures["score_vs_floor"] = figures["score_chars_per_sec"] / figures["score_floor_chars_per_sec"]
    return figures
