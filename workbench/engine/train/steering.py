"""How commands reach the training loop. Alone, the inbox is drained before every step; in a
group every rank applies the same commands at the same step, as rank 0 received them
(distributed.Control decides which steps, and carries signals and the time budget too).

`apply(command)` is the trainer's: it carries a command out and returns a stop reason, or
None. `take` and `wait_while` return (reason, state) when the run is to end, else None.
"""
from __future__ import annotations

import signal as signals
from typing import Callable

from workbench.engine.control import commands as cmd
from workbench.engine.control.bus import Inbox
from workbench.engine.train.distributed import Control, World

Apply = Callable[[cmd.Command], "str | None"]


class Steering:
    def __init__(self, world: World) -> None:
        self.inbox = Inbox()
        self.world = world
        self.control = Control(world, self.inbox) if world.distributed else None

    def signal(self, signum: int) -> None:
        """A stop signal reached this process: finish the step, checkpoint, end (every rank)."""
        if self.control is not None:
            self.control.signal = signum
        else:
            self.inbox.put(cmd.Stop(reason=f"signal {signals.Signals(signum).name}", urgent=True))

    def take(self, step: int, apply: Apply, minutes_spent: Callable[[], bool]) -> tuple[str, str] | None:
        """Before step `step + 1`: the commands that came, and whether --minutes is spent."""
        if self.control is None:
            reason = self.inbox.drain(apply)
            if reason is not None:
                return reason, "stopped"
            return ("time budget", "finished") if minutes_spent() else None
        if not self.control.due(step):
            return None
        return self._apply(*self.control.exchange(step, self.world.is_main and minutes_spent()), apply)

    def wait_while(self, paused: Callable[[], bool], step: int, apply: Apply) -> tuple[str, str] | None:
        """A pause: commands as they come, until one resumes or ends the run."""
        if self.control is None:
            reason = self.inbox.wait(apply, paused)
            return (reason, "stopped") if reason is not None else None
        while paused():  # rank 0 listens; the others wait in the exchange for it
            if self.world.is_main:
                self.inbox.wait_for(Inbox.WAIT_SECONDS)
            end = self._apply(*self.control.exchange(step), apply)
            if end is not None:
                return end
        return None

    def cost(self) -> dict[str, float]:
        """What agreeing on commands cost this run (a group's; nothing alone), for status.json."""
        if self.control is None:
            return {}
        return {"control_checks": self.control.checks, "control_seconds": round(self.control.check_seconds, 4)}

    @staticmethod
    def _apply(commands: list[cmd.Command], ended: str | None, apply: Apply) -> tuple[str, str] | None:
        for command in commands:
            reason = apply(command)
            if reason is not None:
                return reason, "stopped"
        return (ended, "finished") if ended else None
