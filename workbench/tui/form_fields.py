"""The new-session form's fields: what each is called on the form, how its text is read, the
engine's check of it, and the engine's messages put in the form's words ("--layers must be at
least 1" is "layers must be at least 1" there: the form has no flags)."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from workbench.engine.config import TrainConfig


@dataclass(frozen=True)
class Spec:
    """One TrainConfig field in the form."""

    name: str
    label: str
    parse: Callable[[str], Any]
    optional: bool = False  # blank means None
    flag: str = ""  # the command line's name for it, when not --name-with-dashes

    def read(self, text: str) -> Any:
        text = text.strip()
        if self.optional and not text:
            return None
        return self.parse(text)

    @property
    def word(self) -> str:
        """The label without its hint: 'steps (blank: no limit)' -> 'steps'."""
        return self.label.split(" (", 1)[0]


def whole(text: str) -> int:
    return int(text.replace("_", "").replace(",", ""))


# Labels fit the label column (LABEL_CELLS) at 80 columns: none wraps.
LABEL_CELLS = 29
NUMBER_FIELDS = [
    Spec("hidden", "hidden units", whole),
    Spec("layers", "layers", whole),
    Spec("dropout", "dropout", float),
    Spec("batch_size", "batch size", whole),
    Spec("seq_length", "sequence length", whole),
    Spec("lr", "learning rate", float),
    Spec("clip", "gradient clip (0 off)", float),
    Spec("seed", "seed", whole),
    Spec("warmup_steps", "warmup steps (cosine)", whole),
    Spec("max_steps", "steps (blank: no limit)", whole, optional=True, flag="--steps"),
    Spec("max_epochs", "epochs (blank: no limit)", float, optional=True, flag="--epochs"),
    Spec("max_minutes", "minutes (blank: no limit)", float, optional=True, flag="--minutes"),
    Spec("log_every", "log every (steps)", whole),
    Spec("eval_every", "estimate val every (0 off)", whole),
    Spec("checkpoint_every", "checkpoint every (0: at end)", whole),
    Spec("sample_every", "sample every (0 off)", whole),
]
SPECS = {s.name: s for s in NUMBER_FIELDS}
SECTIONS = [
    ("Model", ["hidden", "layers", "dropout"]),
    ("Optimisation", ["batch_size", "seq_length", "lr", "clip", "seed", "warmup_steps"]),
    ("Budget (the first reached ends the run)", ["max_steps", "max_epochs", "max_minutes"]),
    ("Monitoring", ["log_every", "eval_every", "checkpoint_every", "sample_every"]),
]
CHOICES = ("cell", "device", "precision", "schedule", "processes")
"""The fields that are a Select."""

# The engine names fields by their command-line flag; the form by its labels.
FLAG_FIELDS = {s.flag or "--" + s.name.replace("_", "-"): s.name for s in NUMBER_FIELDS}
FLAG_FIELDS.update({"--corpus": "corpus", "--prime": "corpus", "--nproc": "processes", "--cell": "cell",
                    "--device": "device", "--precision": "precision", "--schedule": "schedule"})
FLAG_WORDS = {flag: SPECS[name].word for flag, name in FLAG_FIELDS.items() if name in SPECS}
FLAG_WORDS.update({"--corpus": "the corpus", "--prime": "the sample prime", "--nproc": "the number of processes",
                   "--cell": "the cell", "--device": "the device", "--precision": "the precision",
                   "--schedule": "the schedule", "--encoding": "the encoding", "--val-frac": "the validation fraction"})
_FLAG = re.compile(r"--[a-z][a-z-]*")


def field_for_message(message: str) -> str | None:
    """The form field an engine message is about ('--lr must be ...' -> 'lr'), if any."""
    flag = message.split(" ", 1)[0].rstrip(":")
    return FLAG_FIELDS.get(flag) if flag.startswith("--") else None


def form_words(message: str) -> str:
    """An engine message in the form's words: every flag it names becomes the field's label."""
    return _FLAG.sub(lambda m: FLAG_WORDS.get(m.group(0), m.group(0)), message)


def check_field(name: str, value: Any) -> None:
    """TrainConfig's own check of one field (the others at their defaults)."""
    base = TrainConfig()
    if name == "max_steps" or name == "max_epochs":
        base = replace(base, schedule="constant")
    replace(base, **{name: value}).validate()


def path_problem(text: str) -> str:
    """What is wrong with a typed corpus path, in a few stat calls ('' when it names a file with
    something in it); the whole corpus is read and checked on Start. Blocking: call it from a
    thread."""
    path = Path(text.strip()).expanduser()
    try:
        if not path.exists():
            if not path.parent.exists():
                return f"no such folder: {path.parent}"
            return f"no such file: {path}"
        if path.is_dir():
            return f"{path} is a folder; give the path of a text file inside it"
        if path.stat().st_size == 0:
            return f"{path} is empty; give a text file with some text in it"
    except OSError as exc:
        return f"cannot read {path}: {(exc.strerror or str(exc)).lower()}"
    return ""
