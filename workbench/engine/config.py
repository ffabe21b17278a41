"""Training configuration: one typed dataclass, saved in the session as `config.json`.

Defaults are the teaching notebook's (512x2 LSTM, dropout 0.5, batch 128, sequence 100,
Adam at 0.001, clip 5, 10% validation). Pure Python: importing it never imports torch.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from workbench.engine.errors import WorkbenchError
from workbench.engine.typecheck import accepts, describe, field_types
from workbench.models.cells import CELLS
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine", "decay")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
MAX_SAMPLE_LENGTH = 50_000
"""Characters one sample may have: a few seconds to half a minute of one stream on a CPU. A
sample drawn during training holds the trainer (and, in a group, the other ranks) that long."""
MAX_PRIME = 100_000
"""Characters of a prime (it is fed in chunks, so its memory does not grow with its length)."""
MAX_LR = 1.0
"""No learning rate above this trains these networks: with Adam they blow up at once."""


def check_learning_rate(lr: float, what: str = "--lr") -> None:
    """The one rule for a learning rate, wherever it is given (a flag, the socket, the app)."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and 0 < lr <= MAX_LR):
        raise WorkbenchError(f"{what} must be a positive number of at most {MAX_LR:g}, got {lr}")


@dataclass
class SampleSettings:
    """How samples are drawn, during training and by `workbench sample`."""

    length: int = 200
    """Characters to generate after the prime."""
    top_k: int | None = 5
    """Keep only the k most likely characters (None or 0: all); the notebook's default is 5."""
    top_p: float | None = None
    """Nucleus sampling: keep the smallest set whose probability reaches p (None: off)."""
    temperature: float = 1.0
    """Divides the logits; below 1 is more conservative, above 1 more adventurous."""
    prime: str = "The "
    """Text fed to the model before generating."""

    def validate(self) -> "SampleSettings":
        if not 1 <= self.length <= MAX_SAMPLE_LENGTH:
            raise WorkbenchError(f"the sample length must be from 1 to {MAX_SAMPLE_LENGTH:,}, got {self.length:,}")
        # In the settings' own words (not flags): the CLI, the studio and the socket share them.
        if self.top_k is not None and self.top_k < 0:
            raise WorkbenchError(f"top-k must be 0 (off) or positive, got {self.top_k}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise WorkbenchError(f"top-p must be in (0, 1], got {self.top_p}")
        if not self.temperature > 0.0 or not math.isfinite(self.temperature):
            raise WorkbenchError(f"the temperature must be a positive number, got {self.temperature}")
        if not self.prime:
            raise WorkbenchError("the prime text is empty; give at least one character with --prime")
        if len(self.prime) > MAX_PRIME:
            raise WorkbenchError(f"the prime is {len(self.prime):,} characters long; at most {MAX_PRIME:,} are fed")
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in self.prime):
            raise WorkbenchError("the prime is not valid Unicode (it holds a lone surrogate)")
        return self


@dataclass
class TrainConfig:
    """Everything that decides a training run. Saved as the session's config.json."""

    corpus: str = "anna"
    """A path to a UTF-8 text file, or a known corpus name (anna, tinyshakespeare, python-help)."""
    encoding: str = "utf-8"
    """Text encoding of the corpus file."""
    keep_crlf: bool = False
    """Keep CRLF line endings byte for byte instead of turning them into LF."""
    val_frac: float = 0.1
    """The last fraction of the text, held out for validation."""

    cell: str = "lstm"
    """Recurrent cell: lstm, gru or rnn."""
    hidden: int = 512
    """Units per recurrent layer."""
    layers: int = 2
    """Stacked recurrent layers."""
    dropout: float = 0.5
    """Dropout between layers and before the output layer."""

    batch_size: int = 128
    """Rows of contiguous text trained side by side."""
    seq_length: int = 100
    """Characters per row per step (truncated backpropagation length)."""
    lr: float = 0.001
    """Peak learning rate."""
    optimizer: str = "adam"
    """adam or adamw."""
    weight_decay: float = 0.0
    """Weight decay (decoupled for adamw, L2 for adam)."""
    schedule: str = "constant"
    """constant, cosine (with warmup, to min_lr_frac at the end of the budget) or decay (char-rnn)."""
    warmup_steps: int = 0
    """Linear warmup steps for the cosine schedule."""
    min_lr_frac: float = 0.1
    """Cosine schedule: final learning rate as a fraction of lr."""
    decay_rate: float = 0.97
    """char-rnn decay: multiply the learning rate by this every epoch ..."""
    decay_after: int = 10
    """... starting after this many epochs."""
    clip: float = 5.0
    """Gradient-norm clip (0: off)."""
    seed: int = 0
    """Seeds every random number generator."""

    device: str = "auto"
    """auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps."""
    precision: str = "auto"
    """fp32, bf16 (bfloat16 autocast; weights and optimizer stay fp32) or auto: bf16 on a
    CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX) for models of 128 units or
    more, where it trains 1.4-1.65x faster at the same loss per step; fp32 elsewhere (CUDA
    already gets TF32 matmuls; ask for bf16 there explicitly)."""
    threads: int | None = None
    """CPU threads for torch (None: auto, the cores other processes leave free, see
    engine/machine/threads.py; in a group torchrun's 1 per process)."""
    processes: int = 1
    """Processes training the session together (DDP under torchrun): one per GPU on CUDA,
    or CPU processes with gloo. The batch's rows are split among them."""
    dist_timeout: float = 120.0
    """Seconds a process of a group waits for the others before it gives up on them."""
    max_restarts: int = 0
    """How many times torchrun may restart a failed group (it resumes from the last checkpoint)."""

    log_every: int = 10
    """Steps between progress reports (and reads of the loss from the device)."""
    eval_every: int = 100
    """Steps between cheap validation estimates (0: off)."""
    eval_batches: int = 4
    """Fixed validation batches in the cheap estimate."""
    checkpoint_every: int = 500
    """Steps between checkpoints (each with a full validation pass; 0: only at the end)."""
    sample_every: int = 500
    """Steps between samples (0: off)."""
    keep_last: int = 3
    """Step checkpoints kept besides latest and best."""
    patience: int | None = None
    """Early stopping: stop after this many full validations without improvement (None: off)."""
    explosion_guard: bool = True
    """Stop when the training loss exceeds 3x the first one (as char-rnn does)."""

    max_steps: int | None = None
    """Target total steps for the session (None: no step limit)."""
    max_epochs: float | None = None
    """Target total epochs for the session (None: no epoch limit)."""
    max_minutes: float | None = None
    """Wall-clock budget of one run (not cumulative across resumes)."""

    tensorboard: str | None = None
    """A TensorBoard log folder (absolute) the trainer writes this session into live, as
    FOLDER/SESSION-NAME (engine/export/tensorboard_live.py); None: none."""

    sample: SampleSettings = field(default_factory=SampleSettings)

    # ---------------------------------------------------------------------------------
    def validate(self) -> "TrainConfig":
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise WorkbenchError(message)

        need(self.cell in CELLS, f"--cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        need(self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        need(self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        device_ok = self.device in DEVICES or (self.device.startswith("cuda:") and self.device[5:].isascii() and self.device[5:].isdigit())
        need(device_ok, f"--device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        for name in ("hidden", "layers", "batch_size", "seq_length", "log_every", "eval_batches"):
            need(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "sample_every", "keep_last", "warmup_steps", "decay_after"):
            need(getattr(self, name) >= 0, f"--{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        need(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        need(0.0 < self.val_frac < 1.0, f"--val-frac must be between 0 and 1 (exclusive), got {self.val_frac}")
        check_learning_rate(self.lr)
        need(self.clip >= 0, f"--clip must be 0 (off) or positive, got {self.clip}")
        need(self.weight_decay >= 0, f"--weight-decay must be 0 or more, got {self.weight_decay}")
        need(0.0 <= self.min_lr_frac <= 1.0, f"--min-lr-frac must be in [0, 1], got {self.min_lr_frac}")
        need(0.0 < self.decay_rate <= 1.0, f"--decay-rate must be in (0, 1], got {self.decay_rate}")
        need(self.patience is None or self.patience >= 1, f"--patience must be at least 1, got {self.patience}")
        need(self.max_steps is None or self.max_steps >= 1, f"--steps must be at least 1, got {self.max_steps}")
        need(self.max_epochs is None or self.max_epochs > 0, f"--epochs must be positive, got {self.max_epochs}")
        need(self.max_minutes is None or self.max_minutes > 0, f"--minutes must be positive, got {self.max_minutes}")
        need(self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        need(self.threads is None or self.threads >= 1, f"--threads must be at least 1, got {self.threads}")
        need(self.processes >= 1, f"--nproc must be at least 1, got {self.processes}")
        need(self.processes == 1 or self.batch_size % self.processes == 0,
             f"--batch-size {self.batch_size} cannot be split evenly across {self.processes} processes; "
             f"give a batch size divisible by {self.processes} (or another --nproc)")
        need(math.isfinite(self.dist_timeout) and self.dist_timeout >= 5,
             f"--dist-timeout must be at least 5 seconds, got {self.dist_timeout}")
        need(self.max_restarts >= 0, f"--max-restarts must be 0 or more, got {self.max_restarts}")
        if self.schedule == "cosine":
            need(self.max_steps is not None or self.max_epochs is not None,
                 "the cosine schedule needs a length: give --steps or --epochs")
        self.sample.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Tolerant of keys from older or newer versions: unknown keys are ignored."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            # Every session ever written has them; a default here would build another model
            # than the checkpoints hold, or cut the text another way.
            raise ValueError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
        values = _typed_fields(cls, {k: v for k, v in data.items() if k != "sample"})
        if "precision" not in data:
            # Sessions from before `precision` had a `bf16` flag; they trained in fp32 unless
            # it was set, and keep doing so on resume.
            values["precision"] = "bf16" if data.get("bf16") else "fp32"
        sample = data.get("sample") or {}
        if not isinstance(sample, dict):
            raise ValueError("'sample' is not a JSON object")
        return cls(**values, sample=SampleSettings(**_typed_fields(SampleSettings, sample, prefix="sample.")))

    def with_budget(self, steps: int | None, epochs: float | None, minutes: float | None) -> "TrainConfig":
        """A copy with a new budget; a budget given replaces the old one entirely."""
        if steps is None and epochs is None and minutes is None:
            return replace(self, max_minutes=None)
        return replace(self, max_steps=steps, max_epochs=epochs, max_minutes=minutes)


REQUIRED_FIELDS = ("corpus", "encoding", "keep_crlf", "val_frac", "cell", "hidden", "layers", "dropout",
                   "batch_size", "seq_length", "seed")
"""What config.json must hold: what decides the model's shape, the text and how it is cut."""


def _typed_fields(cls: type, data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The keys of `data` that `cls` knows (others, from older or newer versions, are
    ignored), each checked against its field's type: a hand-edited config.json with
    "hidden": "abc" is a ValueError naming the field, not a TypeError deep in training."""
    checked = {}
    for name, allowed in field_types(cls).items():
        if name not in data:
            continue
        value = data[name]
        if not accepts(allowed, value):
            raise ValueError(f"{prefix}{name} should be {describe(allowed, plain=True)}, not {json.dumps(value)}")
        checked[name] = float(value) if float in allowed and value is not None else value
    return checked
