"""Timer triggers end to end on an in-process host: virtual clock, restarts, leases, time zones."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from durable_local.runtime.clock import VirtualClock
from durable_local.testing import running_host
from tests.triggers.triggerkit import TIMER_APP, ExecutionLog, idle, timer

UTC = timezone.utc


async def test_a_month_of_a_daily_schedule_fires_once_a_day(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULE_A", "0 0 2 * * *")
    clock = VirtualClock(datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC))
    async with running_host(TIMER_APP, clock=clock) as h:
        await idle(h, "timer_a")
        for day in range(1, 32):  # January: 31 days, one firing each
            h.clock_advance(days=1)
            await h.wait_until(lambda day=day: runs.count("timer_a") >= day, what=f"firing {day}")
        await idle(h, "timer_a")
        fired = [r["status"]["Next"] for r in runs.entries("timer_a")]
    assert len(fired) == 31
    assert fired == [f"2026-01-{d:02d}T02:00:00Z" for d in range(1, 32)]
    assert not any(r["past_due"] for r in runs.entries("timer_a"))


async def test_a_firing_missed_while_the_host_was_down_runs_past_due_at_restart(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCHEDULE_A", "0 0 2 * * *")
    clock = VirtualClock(datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC))
    async with running_host(TIMER_APP, clock=clock, store="sqlite", data_dir=tmp_path) as h:
        await idle(h, "timer_a")
    clock.advance(86400)  # no host runs while 2026-06-01T02:00 passes
    async with running_host(TIMER_APP, clock=clock, store="sqlite", data_dir=tmp_path) as h:
        await h.wait_until(lambda: runs.count("timer_a") == 1, what="the past-due firing")
        await idle(h, "timer_a")
        h.clock_advance(days=1)
        await h.wait_until(lambda: runs.count("timer_a") == 2, what="the next firing")
    first, second = runs.entries("timer_a")
    assert first["past_due"] is True and first["status"]["Next"] == "2026-06-01T02:00:00Z"
    assert second["past_due"] is False and second["status"]["Last"] == "2026-06-01T02:00:00Z"


async def test_run_on_startup_and_a_timespan_schedule(runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AzureWebJobs.startup_timer.Disabled")
    monkeypatch.setenv("SCHEDULE_B", "00:05:00")  # every five minutes
    clock = VirtualClock(datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC))
    async with running_host(TIMER_APP, clock=clock) as h:
        await h.wait_until(lambda: runs.count("startup_timer") == 1, what="the start-up firing")
        await idle(h, "startup_timer")
        for n in (2, 3):
            h.clock_advance(minutes=5)
            await h.wait_until(lambda n=n: runs.count("startup_timer") == n, what=f"interval firing {n}")
        await idle(h, "startup_timer")
    assert runs.count("startup_timer") == 3
    assert not any(r["past_due"] for r in runs.entries("startup_timer"))


async def test_cron_runs_in_the_website_time_zone(runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULE_A", "0 0 2 * * *")
    monkeypatch.setenv("WEBSITE_TIME_ZONE", "America/New_York")
    clock = VirtualClock(datetime(2026, 1, 10, 6, 30, tzinfo=UTC))  # 01:30 in New York
    async with running_host(TIMER_APP, clock=clock) as h:
        await idle(h, "timer_a")
        assert timer(h, "timer_a").next_due == datetime(2026, 1, 10, 7, 0, tzinfo=UTC)  # 02:00 EST
        assert runs.count("timer_a") == 0
        h.clock_advance(minutes=31)
        await h.wait_until(lambda: runs.count("timer_a") == 1, what="the 02:00 New York firing")
    assert runs.entries("timer_a")[0]["status"]["Next"] == "2026-01-10T07:00:00Z"


async def test_two_hosts_on_one_store_run_each_firing_once(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCHEDULE_A", "0 0 2 * * *")
    clock = VirtualClock(datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC))
    async with (
        running_host(TIMER_APP, clock=clock, store="sqlite", data_dir=tmp_path) as one,
        running_host(TIMER_APP, clock=clock, store="sqlite", data_dir=tmp_path) as two,
    ):
        for h in (one, two):
            await idle(h, "timer_a")
        for day in (1, 2, 3):
            one.clock_advance(days=1)
            await one.wait_until(lambda day=day: runs.count("timer_a") >= day, what=f"firing {day}")
            for h in (one, two):
                await idle(h, "timer_a")
        executions = timer(one, "timer_a").fired + timer(two, "timer_a").fired
    assert runs.count("timer_a") == 3 == executions
    assert [r["status"]["Next"][:10] for r in runs.entries("timer_a")] == ["2026-06-01", "2026-06-02", "2026-06-03"]


async def test_a_timer_fires_on_the_wall_clock(runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULE_A", "*/2 * * * * *")
    async with running_host(TIMER_APP) as h:
        await h.wait_until(lambda: runs.count("timer_a") >= 1, timeout=3.0, what="a firing within 3 s")


async def test_a_timer_starts_an_orchestration_and_a_disabled_timer_never_fires(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULE_A", "0 0 2 * * *")
    monkeypatch.setenv("SCHEDULE_C", "0 0 2 * * *")
    monkeypatch.setenv("AzureWebJobs.timer_a.Disabled", "true")
    clock = VirtualClock(datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC))
    async with running_host(TIMER_APP, clock=clock) as h:
        assert "        timer_a: timerTrigger (disabled)" in h.host.route_lines()
        assert "timer_a" not in h.host.triggers.listeners
        await idle(h, "timer_starter")
        h.clock_advance(days=1)
        await h.wait_until(lambda: runs.count("timer_starter") == 1, what="the starter firing")
        status = await h.wait_for(runs.entries("timer_starter")[0]["instance_id"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"greeting": "Hello timer", "count": 1}
    assert runs.count("timer_a") == 0


async def test_a_malformed_schedule_is_one_error_line_and_the_rest_runs(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SCHEDULE_A", "61 * * * * *")
    async with running_host(TIMER_APP) as h:
        lines = h.host.route_lines()
        code, body, _ = await h.get("/api/ping")
    expected = (
        "Function 'timer_a' (timerTrigger): schedule '61 * * * * *' (app setting SCHEDULE_A) is not a valid NCRONTAB "
        "expression: "
        "second field: 61 is outside 0-59"
    )
    assert f"        timer_a: timerTrigger (error: {expected})" in lines
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [expected]
    assert (code, body) == (200, "pong")
    assert "        on_service_bus: serviceBusTrigger (not run locally: needs Service Bus)" in lines


async def test_a_schedule_made_more_frequent_applies_at_the_next_start(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCHEDULE_A", "0 0 2 * * *")
    clock = VirtualClock(datetime(2026, 6, 1, 2, 30, tzinfo=UTC))
    async with running_host(TIMER_APP, clock=clock, store="sqlite", data_dir=tmp_path) as h:
        await idle(h, "timer_a")
        assert timer(h, "timer_a").next_due == datetime(2026, 6, 2, 2, 0, tzinfo=UTC)
    monkeypatch.setenv("SCHEDULE_A", "0 0 * * * *")  # hourly now
    async with running_host(TIMER_APP, clock=clock, store="sqlite", data_dir=tmp_path) as h:
        await idle(h, "timer_a")
        assert timer(h, "timer_a").next_due == datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    assert runs.count("timer_a") == 0


async def test_without_the_monitor_a_missed_firing_is_forgotten(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AzureWebJobs.startup_timer.Disabled")  # use_monitor=False, run_on_startup=True
    monkeypatch.setenv("SCHEDULE_B", "0 0 2 * * *")
    clock = VirtualClock(datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC))
    for _restart in range(2):
        async with running_host(TIMER_APP, clock=clock, store="sqlite", data_dir=tmp_path) as h:
            await idle(h, "startup_timer")
        clock.advance(86400)  # a firing passes with no host running
    assert [r["past_due"] for r in runs.entries("startup_timer")] == [False, False]  # the start-up firings only
