"""Whether a value read from JSON has the type a dataclass field declares: the one check for a
hand-edited config.json (config.py) and a control-socket request (control.py). JSON gives any
type; the trainer compares and does arithmetic on these values, and a TypeError deep in
training would end a run. Ints pass for floats; bools pass for nothing but bool. Pure Python."""
from __future__ import annotations

import functools
import typing
from dataclasses import fields

_SCALARS = (int, float, str, bool, type(None))
_PLAIN = {int: "a whole number", float: "a number", str: "a string", bool: "true or false", type(None): "null"}
_NAMES = {int: "int", float: "float", str: "str", bool: "bool", type(None): "null"}


@functools.cache
def field_types(cls: type) -> dict[str, tuple[type, ...]]:
    """Each field of the dataclass `cls` whose type is made of JSON scalars (int, float, str,
    bool, None), with those types; fields of other types are not listed."""
    hints = typing.get_type_hints(cls)
    found = {}
    for f in fields(cls):
        hint = hints[f.name]
        allowed = typing.get_args(hint) or (hint,)
        if all(t in _SCALARS for t in allowed):
            found[f.name] = tuple(allowed)
    return found


def accepts(allowed: tuple[type, ...], value: object) -> bool:
    if value is None:
        return type(None) in allowed
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int):
        return int in allowed or float in allowed
    return any(type(value) is t for t in allowed if t in (float, str))


def describe(allowed: tuple[type, ...], *, plain: bool) -> str:
    """What `allowed` means: in words for people ("a whole number or null") or by type name
    for programs that send requests ("int or null")."""
    words = _PLAIN if plain else _NAMES
    ordered = [t for t in allowed if t is not type(None)] + [t for t in allowed if t is type(None)]
    return " or ".join(words[t] for t in ordered)
