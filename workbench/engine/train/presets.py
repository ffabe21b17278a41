"""Presets: a model and its optimisation settings in one choice, for the new-session form and
`workbench train --preset NAME`, and which one the form starts with on this machine. A preset
is one entry of PRESETS; the first whose `default_on` is this machine's kind ("cpu": no GPU
visible, "gpu") is the form's starting one. Told without torch (engine/machine/gpus.py reads the
driver's folder). On the command line no preset is the notebook's settings, as always."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.engine.config import TrainConfig
from workbench.engine.machine.gpus import visible_gpus


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    """What the form's choice says (short: it fits 80 columns)."""
    values: dict[str, Any] = field(default_factory=dict)
    """TrainConfig fields it sets."""
    default_on: str | None = None
    """The machine it is the form's starting choice on: "cpu", "gpu" or None."""
    epochs: float | None = None
    """The length it was tuned for (its schedule ends with the budget): the run's epochs when
    no budget is given."""


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
    # The notebook's network and batches, trained harder: 3x the rate with 100 warm-up steps and a
    # cosine to 0.1x over the run, dropout 0.3. Measured 2026-12-02 on anna for 20 epochs (the
    # project's 2-core Xeon): 1.1279 nats; dropout 0.5 at the same rate was 0.05 behind at epoch 7;
    # dropout 0.2 led to epoch 11 and ended at 1.1408. `bench --quality` on the AMD EPYC the same
    # day: 1.1431 against the notebook's settings' 1.2066 (the README's table).
    Preset("tuned", "tuned: the notebook's 512x2, lr 0.003 cosine",
           dict(cell="lstm", hidden=512, layers=2, dropout=0.3, batch_size=128, seq_length=100, lr=0.003,
                schedule="cosine", warmup_steps=100, min_lr_frac=0.1),
           epochs=20),
    Preset("large", "large, for a GPU: lstm 1024x3, batch 256, seq 128",
           dict(cell="lstm", hidden=1024, layers=3, dropout=0.5, batch_size=256, seq_length=128, lr=0.001)),
]
BY_KEY = {p.key: p for p in PRESETS}
PRESET_FIELDS = ("cell", "hidden", "layers", "dropout", "batch_size", "seq_length", "lr", "optimizer", "weight_decay",
                 "schedule", "warmup_steps", "min_lr_frac", "clip")
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


def preset_fields(key: str | None, given: dict[str, Any]) -> dict[str, Any]:
    """The model and optimisation fields: each one given (not None), else the preset's (`key`;
    None: no preset), else the notebook's default (TrainConfig's)."""
    preset = BY_KEY[key].values if key else {}
    notebook = TrainConfig()
    return {name: value if (value := given.get(name)) is not None else preset.get(name, getattr(notebook, name))
            for name in PRESET_FIELDS}


def preset_epochs(key: str | None, *, epochs: float | None, steps: int | None, minutes: float | None) -> float | None:
    """The epochs of the budget: those given, or the length the preset was tuned for when no
    budget is given at all."""
    if epochs is not None or steps is not None or minutes is not None:
        return epochs
    return BY_KEY[key].epochs if key else None
