"""Presets: a model and its optimisation settings in one choice, for the new-session form and
`workbench train --preset NAME`, and which one the form starts with on this machine. A preset
is one entry of PRESETS; the first whose `default_on` is this machine's kind ("cpu": no GPU
visible, "gpu") is the form's starting one. Told without torch (engine/gpus.py reads the
driver's folder). On the command line no preset is the notebook's settings, as always."""
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
    # The best of seven 84-second runs on tinyshakespeare on this project's 2-core CPU
    # (2026-12-02): 1.5372 nats on the last 10%, where nanoGPT's CPU preset reached 1.9212 in
    # 85 s. Without dropout it overfits on long runs: it is for a short budget on a CPU.
    Preset("cpu-budget", "cpu budget: lstm 256x2, no dropout",
           dict(cell="lstm", hidden=256, layers=2, dropout=0.0, batch_size=32, seq_length=100, lr=0.005),
           default_on="cpu"),
    Preset("small", "small: lstm 128x2, batch 32, seq 64",
           dict(cell="lstm", hidden=128, layers=2, dropout=0.2, batch_size=32, seq_length=64, lr=0.002)),
    Preset("notebook", "the notebook's: lstm 512x2, batch 128, seq 100",
           dict(cell="lstm", hidden=512, layers=2, dropout=0.5, batch_size=128, seq_length=100, lr=0.001),
           default_on="gpu"),
    Preset("large", "large, for a GPU: lstm 1024x3, batch 256, seq 128",
           dict(cell="lstm", hidden=1024, layers=3, dropout=0.5, batch_size=256, seq_length=128, lr=0.001)),
]
BY_KEY = {p.key: p for p in PRESETS}
PRESET_FIELDS = ("cell", "hidden", "layers", "dropout", "batch_size", "seq_length", "lr")
"""The fields a preset may set (the command line leaves them unset unless given)."""
assert all(set(p.values) <= set(PRESET_FIELDS) for p in PRESETS)


def starting_preset(gpus: int | None = None) -> tuple[Preset, str]:
    """The preset the form starts with on this machine, and why, in a few words."""
    gpus = visible_gpus() if gpus is None else gpus
    kind = "gpu" if gpus else "cpu"
    preset = next((p for p in PRESETS if p.default_on == kind), PRESETS[0])
    if gpus:
        why = f"chosen here: {gpus} GPU{'s' if gpus > 1 else ''} found"
    else:
        why = ("chosen here: no GPU found; the notebook's 512x2 takes seconds a step on a CPU, and this one "
               "learns most in minutes")
    return preset, why
