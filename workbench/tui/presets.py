"""The new-session form's presets: a model and its optimisation settings in one choice, and
which one the form starts with on this machine. A preset is one entry of PRESETS; the first
whose `default_on` is this machine's kind ("cpu": no GPU visible, "gpu") is the starting one.
Told without torch (engine/gpus.py reads the driver's folder)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.engine.gpus import visible_gpus


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    """What the form's choice says (short: it fits 80 columns)."""
    values: dict[str, Any] = field(default_factory=dict)
    """TrainConfig fields it sets."""
    default_on: str | None = None
    """The machine it is the form's starting choice on: "cpu", "gpu" or None."""


PRESETS = [
    Preset("small", "small: lstm 128x2, batch 32, seq 64",
           dict(cell="lstm", hidden=128, layers=2, dropout=0.2, batch_size=32, seq_length=64, lr=0.002),
           default_on="cpu"),
    Preset("notebook", "the notebook's: lstm 512x2, batch 128, seq 100",
           dict(cell="lstm", hidden=512, layers=2, dropout=0.5, batch_size=128, seq_length=100, lr=0.001),
           default_on="gpu"),
    Preset("large", "large, for a GPU: lstm 1024x3, batch 256, seq 128",
           dict(cell="lstm", hidden=1024, layers=3, dropout=0.5, batch_size=256, seq_length=128, lr=0.001)),
]
BY_KEY = {p.key: p for p in PRESETS}


def starting_preset(gpus: int | None = None) -> tuple[Preset, str]:
    """The preset the form starts with on this machine, and why, in a few words."""
    gpus = visible_gpus() if gpus is None else gpus
    kind = "gpu" if gpus else "cpu"
    preset = next((p for p in PRESETS if p.default_on == kind), PRESETS[0])
    if gpus:
        why = f"chosen here: {gpus} GPU{'s' if gpus > 1 else ''} found"
    else:
        why = "chosen here: no GPU found, and a step of the notebook's 512x2 takes seconds on a CPU"
    return preset, why
