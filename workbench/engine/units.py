"""Loss units. Losses are kept in nats everywhere; bits per character is nats / ln 2.
Pure Python, so viewers that never import torch can convert too."""
from __future__ import annotations

import math

LN2 = math.log(2.0)


def bits_per_char(nats: float | None) -> float | None:
    return None if nats is None else nats / LN2
