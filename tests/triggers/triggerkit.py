"""Shared by the trigger tests: the timer test app and the log its functions append to, the
storage app's marks and its queues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azure.storage.queue import QueueClient

from durable_local.testing import HostHarness
from durable_local.triggers.timer import TimerListener

TIMER_APP = Path(__file__).parent / "timer_app"


def marks(env: dict[str, str], kind: str) -> list[str]:
    """The lines the storage app's functions left under ``kind`` (one per run)."""
    path = Path(env["TRIGGER_TEST_MARKS"]) / kind
    return path.read_text().splitlines() if path.exists() else []


def storage_queue(env: dict[str, str], setting: str) -> QueueClient:
    """A client for the queue named by app setting ``setting``, created if missing."""
    client = QueueClient.from_connection_string(env["AzureWebJobsStorage"], env[setting])
    try:
        client.create_queue()
    except Exception:  # already there
        pass
    return client


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
