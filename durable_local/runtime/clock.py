"""Clocks: the wall clock in production, a virtual clock tests can advance.

Only durable time (timer due times, OrchestratorStarted timestamps, status times) comes
from the clock; leases and HTTP timeouts use real time. Advancing the virtual clock wakes
the dispatchers so a 72-hour approval timeout fires immediately.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone


class Clock:
    """Wall clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Wall time needs no wake-ups; virtual clocks call ``callback`` when advanced."""


class VirtualClock(Clock):
    """A clock that moves with real time from an offset that tests can push forward."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0) if start is None else start - datetime.now(timezone.utc)
        self._subscribers: list[Callable[[], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(timezone.utc) + self._offset

    def advance(self, delta: timedelta | float) -> datetime:
        """Jump forward by ``delta`` (a timedelta or seconds) and wake the dispatchers."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        if delta < timedelta(0):
            raise ValueError("a clock never goes backwards")
        with self._lock:
            self._offset += delta
            subscribers = list(self._subscribers)
        for cb in subscribers:
            cb()
        return self.now()

    def subscribe(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)
