"""What a run tells, and where: the session's logs (metrics, one record per step; samples;
events), its status file, and the trainer's subscribers. In a group only rank 0 writes; on the
other ranks every call here does nothing, so the trainer's code is the same on every rank."""
from __future__ import annotations

from typing import Any

from workbench.engine.control import events as ev
from workbench.engine.control.bus import EventBus
from workbench.engine.train.metrics_log import MetricsRecorder
from workbench.engine.sessions.session import JsonlWriter, Session

# Told by the metrics and samples logs (viewers read them there), so not written as events.
_NOT_EVENTS = (ev.StepsLogged, ev.Evaluated, ev.SampleGenerated)


class RunOutput:
    def __init__(self, session: Session, *, writes: bool) -> None:
        self.session = session
        self.writes = writes
        """False on the ranks of a group other than 0."""
        self.bus = EventBus()
        self._metrics: MetricsRecorder | None = None
        self._samples: JsonlWriter | None = None
        self._events: JsonlWriter | None = None

    def open(self, step: int) -> None:
        """Open the logs for a run that starts at `step`: records logged after it (by a run that
        was killed after its last checkpoint) are dropped first, so no step is there twice."""
        if not self.writes:
            return
        self.session.truncate_logs_after(step)
        self._metrics = MetricsRecorder(JsonlWriter(self.session.metrics_path))
        self._samples = JsonlWriter(self.session.samples_path)
        self._events = JsonlWriter(self.session.events_path)

    def status(self, **fields: Any) -> None:
        if self.writes:
            self.session.write_status(**fields)

    def emit(self, event: ev.Event) -> None:
        if self._events is not None and not isinstance(event, _NOT_EVENTS):
            self._events.write(event.to_dict())
        self.bus.emit(event)

    def merge(self, step: int, epoch: float, **values: Any) -> None:
        """Add values to the metrics record of `step`."""
        if self._metrics is not None:
            self._metrics.merge(step, epoch, **values)

    def flush(self) -> None:
        """The current step's metrics record is complete: write it."""
        if self._metrics is not None:
            self._metrics.flush()

    def sample(self, record: dict[str, Any]) -> None:
        if self._samples is not None:
            self._samples.write(record)

    def close(self) -> None:
        for writer in (self._metrics.writer if self._metrics else None, self._samples, self._events):
            if writer is not None:
                writer.close()
        self.bus.close()
