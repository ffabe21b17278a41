"""status.json's fields and their types. The file is rewritten by a trainer many times a
minute and read by every viewer; one that a hand (or another tool) damaged must be listed as
damaged, never crash a listing of every session."""
from __future__ import annotations

import json
from typing import Any

from workbench.engine.typecheck import accepts, describe

STATES = ("created", "running", "paused", "stopped", "finished", "failed")
_INT = (int, type(None))
_NUMBER = (int, float, type(None))
_TEXT = (str, type(None))
FIELDS: dict[str, tuple[type, ...]] = {
    "state": (str,),
    **{name: _INT for name in ("step", "epoch", "checkpoint_step", "total_steps", "steps_per_epoch", "params", "pid",
                               "supervisor_pid", "processes", "control_checks", "threads")},
    **{name: _NUMBER for name in ("best_val_loss", "chars_per_sec", "lr", "train_loss", "eta_seconds", "updated",
                                  "started", "finished", "report_seconds", "control_seconds")},
    **{name: _TEXT for name in ("error", "reason", "device", "shape", "control_socket")},
    "rank_pids": (list, type(None)),
    "lost_peer": (bool, type(None)),
    "peer_died": (bool, type(None)),
}
DAMAGED = "damaged"
"""Key of the note read_status adds when it had to leave fields out (never written back)."""


def sanitized(status: dict[str, Any]) -> dict[str, Any]:
    """`status` without the fields whose type is wrong (and with a state it knows), plus a
    note under DAMAGED naming the first of them when there was any."""
    clean, bad = {}, []
    for key, value in status.items():
        allowed = FIELDS.get(key)
        if key == DAMAGED or (allowed is not None and not _fits(allowed, value)) or (key == "state" and value not in STATES):
            bad.append((key, value, allowed))
            continue
        clean[key] = value
    if bad:
        key, value, allowed = bad[0]
        what = (f"one of {', '.join(STATES)}" if key == "state" else "a list of whole numbers"
                if allowed and list in allowed else describe(allowed or (str,), plain=True))
        more = f" (and {len(bad) - 1} more field{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
        clean[DAMAGED] = f"status.json: {key} should be {what}, not {json.dumps(value)[:40]}{more}"
    return clean


def _fits(allowed: tuple[type, ...], value: Any) -> bool:
    if list in allowed:
        return value is None or (isinstance(value, list) and all(type(v) is int for v in value))
    return accepts(allowed, value)
