"""The trigger manager: a listener that cannot be built or started costs that function only."""

from __future__ import annotations

import pytest

from durable_local.testing import running_host
from durable_local.triggers import manager
from tests.triggers.triggerkit import TIMER_APP, ExecutionLog


class BrokenListener:
    async def start(self) -> None:
        raise RuntimeError("port in use")

    async def stop(self) -> None:
        raise AssertionError("a listener that failed to start is never stopped")


def broken_factory(ctx: object, fi: object) -> BrokenListener:
    return BrokenListener()


async def test_listeners_that_fail_are_noted_and_the_host_runs(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(manager.LISTENER_FACTORIES, "timerTrigger", "no_such_module_here:create_listener")
    monkeypatch.setitem(manager.LISTENER_FACTORIES, "serviceBusTrigger", f"{__name__}:broken_factory")
    async with running_host(TIMER_APP) as h:
        lines = h.host.route_lines()
        assert (await h.get("/api/ping"))[:2] == (200, "pong")
    assert (
        "        timer_a: timerTrigger (error: Function 'timer_a' (timerTrigger): "
        "ModuleNotFoundError: No module named 'no_such_module_here')"
    ) in lines
    assert (
        "        on_service_bus: serviceBusTrigger (error: Function 'on_service_bus': RuntimeError('port in use'))"
        in lines
    )
    assert not [r for r in caplog.records if r.exc_info]  # one line each, no traceback
