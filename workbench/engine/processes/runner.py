"""A trainer's process: one session trained here, in the foreground, until it ends.

    train_here(session)          # `workbench train/resume --headless` call this
    python -c ... runner:main    # what the launcher starts for `--detach` and the terminal UI,
                                 # and what torchrun starts in every process of a group

Progress goes to stdout as lines (engine/control/narrate.py), warnings to stderr; the control socket
is served while the session is ours; Ctrl-C, SIGTERM and SIGHUP finish the current step, save
a checkpoint and end the run (a second one aborts at once, the checkpoint written already).
In a group (torchrun), rank 0 does all of that for the group, and a signal to any process
stops every one of them at the same step.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import IO, Any, Callable, Sequence

from workbench.engine.control import events as ev
from workbench.engine.config import TrainConfig
from workbench.engine.control.server import ControlServer
from workbench.engine.corpus.load import Corpus
from workbench.engine.train.distributed import World, join_world, record_error
from workbench.engine.errors import WorkbenchError, reporting_errors
from workbench.engine.control.narrate import Narrator
from workbench.engine.sessions.session import Session
from workbench.engine.export.tensorboard_live import live_writer
from workbench.engine.train.trainer import Trainer

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ProgressPrinter:
    """A trainer subscriber that prints the run's lines as they happen."""

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.narrator = Narrator()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Failed):
            return  # said once, as the process's error line, when the run returns
        for line in self.narrator.event(event.to_dict()):
            print(line.text, file=self.err if line.severity == "warning" else self.out, flush=True)


class _StopOnSignal:
    """While entered: the first stop signal asks the trainer to stop after this step (urgently:
    the checkpoint is written before its validation, since a scheduler's kill may follow within
    seconds); a second one raises KeyboardInterrupt, which abandons the run at once."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.received: list[str] = []
        self.previous: dict[int, object] = {}

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received:
            raise KeyboardInterrupt
        self.received.append(name)
        if self.trainer.world.is_main:  # rank 0 speaks for a group
            print(f"\n{name} received: finishing the current step, saving a checkpoint, then validating it "
                  "(again to abort; the checkpoint is written first)", file=sys.stderr, flush=True)
        self.trainer.stop_for_signal(signum)

    def __enter__(self) -> "_StopOnSignal":
        self.previous = {sig: signal.signal(sig, self) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def train_here(session: Session, *, corpus: Corpus | None = None, command: str = "workbench train",
               world: World | None = None) -> int:
    """Train `session` in this process until its budget, a stop or a failure; the exit status
    (1 when the run failed, with its reason as the last line on stderr). In a group (`world`)
    every rank calls this; rank 0 reads the session and tells the others its config."""
    world = world or World()
    config = None
    if world.distributed:
        config = TrainConfig.from_dict(world.broadcast(session.read_config().to_dict() if world.is_main else None))
    trainer = Trainer(session, corpus=corpus, command=command, world=world, config=config)
    if world.is_main:
        trainer.subscribe(ProgressPrinter())
        tensorboard = live_writer(session, trainer.config)  # config.tensorboard: TensorBoard logs as it trains
        if tensorboard is not None:
            trainer.subscribe(tensorboard)
    with _StopOnSignal(trainer):
        final = trainer.run(while_locked=ControlServer(session, trainer) if world.is_main else None)
    if isinstance(final, ev.Failed):
        if world.is_main or not final.error.startswith("lost contact"):
            print(f"workbench: error: {final.error}", file=sys.stderr)
        record_error(final.error)  # for the group's supervisor (engine/processes/group.py)
        return 1
    return 0


def train_in_world(session_of: Callable[[World], Session], **options: Any) -> int:
    """`train_here` in torchrun's group (or alone when torchrun did not start this process),
    the group torn down after. `session_of(world)` opens the session on rank 0 (the others
    only know its name: its folder may not be on their machine)."""
    world = join_world()
    code = 1
    try:
        code = train_here(session_of(world), world=world, **options)
        return code
    except WorkbenchError as exc:  # refused before the first step
        # Under our supervisor (engine/processes/group.py) it says this once for the group, as its own
        # error line, and in the session; every rank saying it too would print it N times.
        if record_error(str(exc)) and os.environ.get("WORKBENCH_SUPERVISOR_PID"):
            return exc.exit_code
        raise
    finally:
        world.close(finished=code == 0)


def main(argv: Sequence[str] | None = None) -> int:
    """The background trainer's entry (engine/processes/launcher.py, and every process of a group that
    engine/processes/group.py starts): `SESSIONS_DIR NAME`."""
    parser = argparse.ArgumentParser(prog="workbench trainer", description="Train one session (started by workbench).")
    parser.add_argument("sessions_dir", type=Path)
    parser.add_argument("name")
    args = parser.parse_args(argv)

    def session_of(world: World) -> Session:
        if world.is_main:
            return Session.open(args.sessions_dir, args.name)
        return Session(Path(args.sessions_dir) / args.name)

    return reporting_errors(lambda: train_in_world(session_of, command="workbench resume"))
