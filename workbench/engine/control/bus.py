"""Delivering a trainer's events to subscribers without ever holding up the training loop, and
commands to the trainer (Inbox).

Each subscriber gets its own queue and daemon thread: `emit` only enqueues, so a slow
subscriber delays nothing but its own deliveries, and one that raises is reported once on
stderr and keeps receiving later events."""
from __future__ import annotations

import collections
import queue
import sys
import threading
from typing import Callable

from workbench.engine.control.commands import Command
from workbench.engine.control.events import Event

Subscriber = Callable[[Event], None]
_CLOSE = object()


class _Delivery:
    def __init__(self, fn: Subscriber) -> None:
        self.fn = fn
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.reported = False
        self.thread = threading.Thread(target=self._run, name=f"workbench-events-{getattr(fn, '__name__', 'subscriber')}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            if event is _CLOSE:
                return
            try:
                self.fn(event)
            except Exception as exc:  # a subscriber must never take the trainer down
                if not self.reported:
                    self.reported = True
                    print(f"workbench: warning: event subscriber {self.fn!r} failed: {exc!r}", file=sys.stderr)


class EventBus:
    def __init__(self) -> None:
        self._deliveries: list[_Delivery] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        delivery = _Delivery(fn)
        with self._lock:
            self._deliveries = [*self._deliveries, delivery]

        def unsubscribe() -> None:
            with self._lock:
                self._deliveries = [d for d in self._deliveries if d is not delivery]
            delivery.queue.put(_CLOSE)

        return unsubscribe

    def emit(self, event: Event) -> None:
        for delivery in self._deliveries:  # a snapshot: subscribe() replaces the list
            delivery.queue.put(event)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (waiting at most `timeout` in all), then stop the threads."""
        with self._lock:
            deliveries, self._deliveries = self._deliveries, []
        for delivery in deliveries:
            delivery.queue.put(_CLOSE)
        for delivery in deliveries:
            delivery.thread.join(timeout)


class Inbox:
    """Commands on their way to the trainer: put from any thread, applied by the trainer's
    own thread between steps (`apply` returns a stop reason, or None)."""

    WAIT_SECONDS = 0.25  # while paused, how often the wait wakes (it also wakes for a command)

    def __init__(self) -> None:
        self._items: collections.deque[Command] = collections.deque()
        self._arrived = threading.Condition()

    def put(self, command: Command) -> None:
        with self._arrived:
            self._items.append(command)
            self._arrived.notify_all()

    def pending(self) -> bool:
        return bool(self._items)

    def take_all(self) -> list[Command]:
        with self._arrived:
            items, self._items = list(self._items), collections.deque()
        return items

    def wait_for(self, seconds: float) -> bool:
        """Wait up to `seconds` for a command to arrive; whether one is waiting."""
        with self._arrived:
            return self._arrived.wait_for(lambda: bool(self._items), timeout=seconds)

    def drain(self, apply: Callable[[Command], str | None]) -> str | None:
        """Apply every waiting command; the first stop reason, which ends the draining."""
        while self._items:
            with self._arrived:
                command = self._items.popleft()
            reason = apply(command)
            if reason is not None:
                return reason
        return None

    def wait(self, apply: Callable[[Command], str | None], waiting: Callable[[], bool]) -> str | None:
        """Apply commands as they come while `waiting()` (a pause); a stop reason ends it."""
        while waiting():
            if self.wait_for(self.WAIT_SECONDS):
                reason = self.drain(apply)
                if reason is not None:
                    return reason
        return None
