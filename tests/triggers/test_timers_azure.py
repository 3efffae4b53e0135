"""Timer schedule status and locks on the Azure Storage backend (Azurite): two hosts on one
task hub run each firing once, and a firing missed while no host ran is past due at restart."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from durable_local.runtime.clock import VirtualClock
from durable_local.store.base import Store
from durable_local.testing import running_host
from tests.azurite import azure_test_store
from tests.triggers.triggerkit import TIMER_APP, ExecutionLog, idle, timer

pytestmark = pytest.mark.azurite


async def test_two_hosts_on_one_azure_hub_and_past_due_after_restart(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULE_A", "0 0 2 * * *")
    hub = f"T{uuid.uuid4().hex[:12]}"
    clock = VirtualClock(datetime(2026, 6, 1, 0, 0, 30, tzinfo=timezone.utc))
    stores: list[Store] = []

    def hub_store(c: VirtualClock) -> Store:
        stores.append(azure_test_store(c, hub_name=hub, delete_hub_on_close=False))
        return stores[-1]

    try:
        async with (
            running_host(TIMER_APP, clock=clock, store_factory=hub_store) as one,
            running_host(TIMER_APP, clock=clock, store_factory=hub_store) as two,
        ):
            for h in (one, two):
                await idle(h, "timer_a")
            for day in (1, 2):
                one.clock_advance(days=1)
                await one.wait_until(lambda day=day: runs.count("timer_a") >= day, what=f"firing {day}")
                for h in (one, two):
                    await idle(h, "timer_a")
            assert timer(one, "timer_a").fired + timer(two, "timer_a").fired == 2
        clock.advance(86400)  # 2026-06-03T02:00 passes with no host running
        async with running_host(TIMER_APP, clock=clock, store_factory=hub_store) as h:
            await h.wait_until(lambda: runs.count("timer_a") == 3, what="the past-due firing")
    finally:
        cleanup = azure_test_store(hub_name=hub)  # deletes the hub on close
        cleanup.close()
    assert [r["past_due"] for r in runs.entries("timer_a")] == [False, False, True]
    assert runs.entries("timer_a")[2]["status"]["Next"] == "2026-06-03T02:00:00Z"
