"""The fields of the sample studio and the probe: prime, length, top-k, top-p, temperature,
seed and number of samples, each checked as it is typed with the engine's own rules."""
from __future__ import annotations

from typing import Any, Callable

from textual.validation import ValidationResult, Validator
from textual.widgets import Input

from workbench.engine.config import SampleSettings
from workbench.engine.corpus.encode import describe_unknown, unknown_chars
from workbench.engine.errors import WorkbenchError
from workbench.tui.modals.prompt import EngineCheck

MAX_LENGTH = 50_000
MAX_NUM = 4


class PrimeCheck(Validator):
    """A prime the model can read: not empty, every character in its vocabulary."""

    def __init__(self, vocab: list[str]) -> None:
        super().__init__()
        self.vocab = vocab

    def validate(self, value: str) -> ValidationResult:
        if not value:
            return self.failure("the prime needs at least one character")
        unknown = unknown_chars(value, self.vocab) if self.vocab else []
        if unknown:
            return self.failure(f"{len(unknown)} character(s) the model never saw: {describe_unknown(unknown, 6)}")
        return self.success()


def _int_in(lo: int, hi: int, what: str) -> Callable[[int], None]:
    def check(value: int) -> None:
        if not lo <= value <= hi:
            raise WorkbenchError(f"{what} must be from {lo:,} to {hi:,}, got {value:,}")
    return check


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda text: parse(text) if text else None


def _sample_setting(name: str) -> Callable[[Any], None]:
    """SampleSettings' own check of one of its fields (the others at their defaults)."""
    def check(value: Any) -> None:
        SampleSettings(**{name: value}).validate()
    return check


def _check_seed(value: int | None) -> None:
    if value is not None and not 0 <= value < 2**62:
        raise WorkbenchError(f"the seed must be from 0 to 2**62, got {value}")


FIELD_LABELS = {"prime": "prime", "length": "length", "top_k": "top-k", "top_p": "top-p", "temperature": "temp",
                "seed": "seed", "num": "num"}


def sample_fields(values: dict[str, str], vocab: list[str]) -> dict[str, Input]:
    """The studio's inputs (also the probe's top-k / top-p / temperature), checked as typed."""
    specs = {
        "prime": [PrimeCheck(vocab)],
        "length": [EngineCheck(int, _int_in(1, MAX_LENGTH, "the length"), "a whole number")],
        "top_k": [EngineCheck(_optional(int), _sample_setting("top_k"), "a whole number")],
        "top_p": [EngineCheck(_optional(float), _sample_setting("top_p"), "a number")],
        "temperature": [EngineCheck(float, _sample_setting("temperature"), "a number")],
        "seed": [EngineCheck(_optional(int), _check_seed, "a whole number")],
        "num": [EngineCheck(int, _int_in(1, MAX_NUM, "num"), "a whole number")],
    }
    placeholders = {"top_k": "off", "top_p": "off", "seed": "random"}
    return {key: Input(values.get(key, ""), id=key, compact=True, placeholder=placeholders.get(key, ""),
                       validators=specs[key], classes=f"field-{key}", select_on_focus=False)
            for key in values}


def parse_fields(inputs: dict[str, Input]) -> dict[str, Any]:
    """Values of valid inputs (call after checking them)."""
    v = {key: field_input.value.strip() if key != "prime" else field_input.value for key, field_input in inputs.items()}
    out: dict[str, Any] = {}
    if "prime" in v:
        out["prime"] = v["prime"]
    for key, parse in (("length", int), ("num", int), ("temperature", float)):
        if key in v:
            out[key] = parse(v[key])
    for key, parse in (("top_k", int), ("top_p", float), ("seed", int)):
        if key in v:
            out[key] = parse(v[key]) if v[key] else None
    if out.get("top_k") == 0:
        out["top_k"] = None
    return out


def first_error(inputs: dict[str, Input]) -> str:
    """'top-p: must be in (0, 1]' for the first invalid input, else ''."""
    for key, field_input in inputs.items():
        result = field_input.validate(field_input.value)
        if result is not None and not result.is_valid:
            return f"{FIELD_LABELS.get(key, key)}: {'; '.join(result.failure_descriptions)}"
    return ""
