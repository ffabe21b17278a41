"""The guards on the math (as char-rnn has them): a training loss that is not finite, or that
explodes past 3x its reference, ends the run with the last good checkpoint kept; and what a
crash nobody foresaw is called when it ends a run."""
from __future__ import annotations

import errno
import math
import traceback
from typing import Any, Callable


class TrainingFailed(Exception):
    """A guard tripped or the run broke; the message is for the user."""


def check_loss(loss: float, *, step: int, first_loss: float | None, vocab_size: int, explosion_guard: bool,
               kept: Callable[[], str]) -> float:
    """Raise TrainingFailed when `loss` (a log interval's mean) is not finite or has exploded;
    `kept()` says which checkpoint the user still has. Returns the first logged loss (this one
    when there was none yet), which the guard remembers."""
    where = f"at step {step}"
    if not math.isfinite(loss):
        raise TrainingFailed(f"training loss became {loss} {where}; stopped, {kept()}; try a lower --lr or --clip")
    if first_loss is None:
        first_loss = loss
    # A fresh model starts near a uniform guess's loss (ln V). A first interval far above that
    # has already blown up (a wild --lr) and is no reference: the guess is used instead.
    uniform = math.log(vocab_size)
    reference, what = ((first_loss, "the first logged loss") if first_loss <= 1.5 * uniform
                       else (uniform, "the loss of a uniform guess"))
    if explosion_guard and loss > 3 * reference:
        raise TrainingFailed(f"training loss {loss:.3f} {where} exploded past 3x {what} ({reference:.3f}); "
                             f"stopped, {kept()}; try a lower --lr")
    return first_loss


def describe_crash(exc: BaseException, session: Any, step: int) -> str:
    """An error nobody foresaw, in one line: a full disk with what to do, else the exception's
    last line (out of memory, a bug)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"the disk holding {session.root} is full (at step {step}); free some space, "
                f"then `workbench resume {session.name}`")
    return "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
