"""Admin invoke (POST /admin/functions/{name}), disabled functions, the not-run-locally listing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from durable_local.app_loader import FunctionInfo
from durable_local.runtime.clock import VirtualClock
from durable_local.testing import HostHarness, running_host
from durable_local.triggers.admin import trigger_value
from tests.triggers.triggerkit import TIMER_APP, ExecutionLog

WEBHOOK = "/runtime/webhooks/durabletask"


async def admin(h: HostHarness, name: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    code, reply, _ = await h.post(f"/admin/functions/{name}", **({"json": body} if body is not None else {}), **kw)
    return code, reply


async def test_admin_invoke_runs_timer_service_bus_and_activity_functions(runs: ExecutionLog) -> None:
    async with running_host(TIMER_APP) as h:
        assert await admin(h, "timer_a", {"input": ""}) == (202, None)
        assert await admin(h, "ON_SERVICE_BUS", {"input": "hello bus"}) == (202, None)  # not run locally
        assert await admin(h, "say_hello", {"input": '"Ada"'}) == (202, None)
        await h.wait_until(lambda: len(runs.entries()) == 3, what="three admin invocations")
    assert runs.entries("timer_a")[0]["past_due"] is False
    assert runs.entries("on_service_bus") == [{"fn": "on_service_bus", "body": "hello bus"}]
    assert runs.entries("say_hello") == [{"fn": "say_hello", "input": "Ada"}]


async def test_admin_invoke_errors(runs: ExecutionLog) -> None:
    async with running_host(TIMER_APP) as h:
        code, reply = await admin(h, "nope", {"input": ""})
        assert code == 404 and reply == {"error": "Function 'nope' does not exist"}
        code, reply = await admin(h, "timer_a", {"input": 5})
        assert code == 400 and reply == {"error": "'input' must be a string, not int"}
        code, reply, _ = await h.post("/admin/functions/timer_a", data=b"{not json")
        assert code == 400 and "must be JSON" in reply["error"]
        code, reply = await admin(h, "timer_a", ["input"])
        assert code == 400 and "JSON object" in reply["error"]
        code, reply = await admin(h, "greet", {"input": "x"})
        assert code == 400 and "/runtime/webhooks/durabletask/orchestrators/greet" in reply["error"]
        code, reply = await admin(h, "ping", {"input": "x"})
        assert code == 400 and "HTTP function" in reply["error"]
    assert runs.entries() == []


async def test_admin_invoke_needs_the_master_key_when_keys_are_on(runs: ExecutionLog) -> None:
    async with running_host(TIMER_APP, master_key="the-master-key") as h:
        assert (await admin(h, "timer_a", {"input": ""}))[0] == 401
        assert (await admin(h, "timer_a", {"input": ""}, headers={"x-functions-key": "wrong"}))[0] == 401
        assert await admin(h, "timer_a", {"input": ""}, headers={"x-functions-key": "the-master-key"}) == (202, None)
        await h.wait_until(lambda: runs.count("timer_a") == 1, what="the keyed invocation")


async def test_disabled_activity_and_entity_fail_the_orchestration_s_calls(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AzureWebJobs.say_hello.Disabled", "true")
    monkeypatch.setenv("AzureWebJobs_counter_Disabled", "1")  # the Linux spelling
    monkeypatch.setenv("AzureWebJobs.ping.Disabled", "TRUE")
    async with running_host(TIMER_APP, clock=VirtualClock()) as h:
        lines = h.host.route_lines()
        code, body, _ = await h.post(f"{WEBHOOK}/orchestrators/greet", json='"Ada"')  # as the SDK sends it
        assert code == 202
        status = await h.wait_for(body["id"])
        assert (await h.get("/api/ping"))[0] == 404  # a disabled HTTP trigger is not served
    assert status["runtimeStatus"] == "Completed", status["output"]
    greeting, count = status["output"]["greeting"], status["output"]["count"]
    assert greeting.startswith("failed: ") and "The function 'say_hello' doesn't exist, is disabled" in greeting
    assert count.startswith("failed: ") and "The function 'counter' doesn't exist, is disabled" in count
    assert runs.count("say_hello") == 0
    for name, kind in (("say_hello", "activityTrigger"), ("counter", "entityTrigger")):
        assert f"        {name}: {kind} (disabled)" in lines
    assert any(line.startswith("        ping: [GET] ") and line.endswith(" (disabled)") for line in lines)


async def test_functions_that_need_other_services_are_listed_and_the_host_runs(runs: ExecutionLog) -> None:
    async with running_host(TIMER_APP) as h:
        lines = h.host.route_lines()
        assert (await h.get("/api/ping"))[:2] == (200, "pong")
    assert "        on_service_bus: serviceBusTrigger (not run locally: needs Service Bus)" in lines
    assert "        timer_a: timerTrigger" in lines  # runs: no note


def test_an_admin_input_becomes_a_queue_message_for_a_queue_trigger() -> None:
    fi = FunctionInfo("on_queue", "other", "on_queue", {"type": "queueTrigger", "name": "msg"}, [], print, False)

    class Ctx:
        clock = VirtualClock()

    msg, data = trigger_value(Ctx(), fi, "order-17")  # type: ignore[arg-type]
    assert msg.get_body() == b"order-17" and msg.dequeue_count == 1 and msg.id == data["Id"]
    assert data["queueTrigger"] == "order-17"


async def test_a_disabled_activity_fails_its_task_in_a_worker_process_too(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "1")
    monkeypatch.setenv("AzureWebJobs.say_hello.Disabled", "true")
    async with running_host(TIMER_APP) as h:
        assert h.host.dispatcher.workers is not None
        code, body, _ = await h.post(f"{WEBHOOK}/orchestrators/greet", json='"Ada"')
        assert code == 202
        status = await h.wait_for(body["id"], timeout=60)
    assert status["runtimeStatus"] == "Completed", status["output"]
    assert "The function 'say_hello' doesn't exist, is disabled" in status["output"]["greeting"]
    assert status["output"]["count"] == 1 and runs.count("say_hello") == 0


async def test_disabled_from_local_settings_json(runs: ExecutionLog, tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(TIMER_APP, app, ignore=shutil.ignore_patterns("__pycache__"))
    key = "AzureWebJobs.ping.Disabled"
    (app / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": {key: "true"}}))
    try:
        async with running_host(app) as h:
            assert (await h.get("/api/ping"))[0] == 404
            assert any(
                line.startswith("        ping: [GET] ") and line.endswith("(disabled)") for line in h.host.route_lines()
            )
    finally:
        os.environ.pop(key, None)  # local.settings.json values are applied to the process environment
