"""TensorBoard logs written as a session trains: a subscriber of the trainer's events.

    writer = live_writer(session, config)     # None when config.tensorboard is not set
    if writer is not None:
        trainer.subscribe(writer)             # engine/processes/runner.py does this for every trainer

It writes what `workbench export --tensorboard` would (tensorboard_log.py), from the session's
own files: on each log interval, evaluation, sample, pause and at the end it reads the lines
appended to metrics.jsonl and samples.jsonl since the last time (follow.py) and appends their
values to FOLDER/SESSION-NAME. Like every subscriber it runs on its own thread and queue
(bus.py), so the training loop never waits for it. A failure (a full disk, a folder it may
not write) is said once on stderr, and the writer then stays quiet; training goes on. The
metrics record of a step is written when the next one begins, so TensorBoard is one log
interval behind, and complete once the run ends.
"""
from __future__ import annotations

import sys
from pathlib import Path

from workbench.engine.control import events as ev
from workbench.engine.config import TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.follow import SessionFollower
from workbench.engine.sessions.session import Session
from workbench.engine.export.tensorboard_log import TensorBoardRun, Written, require_tensorboard, run_folder

_WRITE_ON = (ev.StepsLogged, ev.Evaluated, ev.SampleGenerated, ev.CheckpointSaved, ev.Paused)
_LAST = (ev.Finished, ev.Failed)


class TensorBoardLive:
    """Appends a session's new metrics and samples to its TensorBoard run folder as they are
    logged. Call it with the trainer's events (from one thread: the bus's)."""

    def __init__(self, session: Session, logdir: Path) -> None:
        self.session = session
        self.logdir = Path(logdir)
        self.written = Written()
        self._follower = SessionFollower(session)
        self._run: TensorBoardRun | None = None
        self._done = False

    def __call__(self, event: ev.Event) -> None:
        if self._done or not isinstance(event, _WRITE_ON + _LAST):
            return
        try:
            if self._run is None:  # the first time: the folder is read back, the history caught up
                self._run = TensorBoardRun(run_folder(self.logdir, self.session.name))
            update = self._follower.poll()
            self.written.add(self._run.write(update.metrics, update.samples))
        except Exception:
            self.close()  # said once by the bus; no more tries for this run
            raise
        if isinstance(event, _LAST):
            self.close()

    def close(self) -> None:
        self._done = True
        if self._run is not None:
            self._run.close()

    def __repr__(self) -> str:  # how the bus names us in its one warning
        return f"<TensorBoard logs in {self.logdir / self.session.name}>"


def live_writer(session: Session, config: TrainConfig) -> TensorBoardLive | None:
    """The subscriber for `config.tensorboard`, or None when it is not set; when the package
    is missing, one warning on stderr (the trainer's log) and None: training goes on."""
    if not config.tensorboard:
        return None
    try:
        require_tensorboard()
    except WorkbenchError as exc:
        print(f"workbench: warning: not writing TensorBoard logs to {config.tensorboard}: {exc}", file=sys.stderr)
        return None
    return TensorBoardLive(session, Path(config.tensorboard))
