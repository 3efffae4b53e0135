"""Shared by the trigger tests: the timer test app and the log its functions append to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from durable_local.testing import HostHarness
from durable_local.triggers.timer import TimerListener

TIMER_APP = Path(__file__).parent / "timer_app"


class ExecutionLog:
    """The JSON lines the test app's functions write, one per execution."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self, fn: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
        return [r for r in rows if fn is None or r["fn"] == fn]

    def count(self, fn: str) -> int:
        return len(self.entries(fn))


def timer(h: HostHarness, name: str) -> TimerListener:
    listener = h.host.triggers.listeners[name]
    assert isinstance(listener, TimerListener)
    return listener


async def idle(h: HostHarness, name: str) -> None:
    """Wait until the timer sleeps towards an occurrence still ahead (it has handled the past)."""
    t = timer(h, name)
    await h.wait_until(lambda: t.next_due is not None and t.next_due > h.clock.now(), what=f"{name} idle")
