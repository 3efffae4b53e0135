"""Every Durable management route over raw HTTP: status codes, headers, bodies, store effects."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from durable_local.engine.events import EventType

W = "/runtime/webhooks/durabletask"
R = "/durabletask"
CHECK_KEYS = {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri",
              "restartPostUri", "suspendPostUri", "resumePostUri"}


def set_row(srv: Any, iid: str, **changes: Any) -> None:
    rec = srv.store.get_instance(iid)
    srv.store.set_instance_row(replace(rec, **changes))


def queued(srv: Any, iid: str) -> list[dict[str, Any]]:
    return [m.payload for m in srv.store.list_messages(iid)]


async def start(srv: Any, name: str = "hello_orchestrator", iid: str | None = None, body: Any = "\"x\"",
                base: str = R, query: str = "") -> tuple[int, Any, Any]:
    path = f"{base}/orchestrators/{name}" + (f"/{iid}" if iid else "") + query
    return await srv.call("POST", path, data=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("base", [W, R])
async def test_start_returns_check_status_and_creates_pending_row(srv: Any, base: str) -> None:
    code, body, headers = await start(srv, iid="order-1", body=json.dumps(json.dumps({"a": 1})), base=base)
    assert code == 202
    assert set(body) == CHECK_KEYS and body["id"] == "order-1"
    assert body["statusQueryGetUri"] == (f"{srv.base}{W}/instances/order-1?taskHub=TestHubName&connection=Storage")
    assert headers["Location"] == body["statusQueryGetUri"] and headers["Retry-After"] == "10"
    rec = srv.store.get_instance("order-1")
    assert rec.runtime_status == "Pending" and rec.name == "hello_orchestrator"
    started = queued(srv, "order-1")[0]
    assert started["EventType"] == EventType.ExecutionStarted
    assert json.loads(started["Input"]) == '{"a": 1}'  # JSON string literal of the JSON text (§6.3)
    assert srv.notified


async def test_start_generates_ids_versions_and_accepts_plain_json(srv: Any) -> None:
    code, body, _ = await start(srv, body=None)
    assert code == 202 and len(body["id"]) == 32 and srv.store.get_instance(body["id"]).input is None
    code, body, _ = await start(srv, "NAMEDORCH", body=json.dumps({"b": [1, 2]}), query="?version=2.0")
    assert code == 202
    rec = srv.store.get_instance(body["id"])
    assert rec.version == "2.0" and json.loads(rec.input) == '{"b":[1,2]}'


@pytest.mark.parametrize(("name", "body", "needle"), [
    ("nope", "\"x\"", "The function 'nope' doesn't exist, is disabled, or is not an orchestrator function."),
    ("say_hello", "\"x\"", "is not an orchestrator function"),
    ("hello_orchestrator", "{not json", "Invalid JSON content"),
    ("hello_orchestrator", b"\xff\xfe\x00", "Invalid JSON content"),
])
async def test_start_bad_input_is_400_without_row(srv: Any, name: str, body: Any, needle: str) -> None:
    code, err, _ = await start(srv, name, iid="bad-1", body=body)
    assert code == 400 and needle in err["ExceptionMessage"]
    assert set(err) == {"Message", "ExceptionMessage", "ExceptionType"}
    assert srv.store.get_instance("bad-1") is None


async def test_start_existing_ids(srv: Any) -> None:
    assert (await start(srv, iid="dup"))[0] == 202
    code, err, _ = await start(srv, iid="dup")
    assert code == 409 and "already exists" in err["ExceptionMessage"]
    set_row(srv, "dup", runtime_status="Completed")
    assert (await start(srv, iid="dup"))[0] == 202  # non-running instances are replaced
    assert srv.store.get_instance("dup").runtime_status == "Pending"


async def test_start_and_wait(srv: Any) -> None:
    code, body, _ = await start(srv, iid="w1", query="?timeout=0&pollingInterval=1")
    assert code == 202 and body["id"] == "w1"

    async def complete_soon() -> None:
        await asyncio.sleep(0.2)
        set_row(srv, "w2", runtime_status="Completed", output='{"done":true}')

    task = asyncio.create_task(complete_soon())
    code, body, _ = await start(srv, iid="w2", query="?timeout=5&pollingInterval=0.05")
    await task
    assert (code, body) == (200, {"done": True})
    code, _, _ = await start(srv, iid="w3", query="?timeout=abc&pollingInterval=1")
    assert code == 400 and srv.store.get_instance("w3") is None


async def test_status_codes_and_payload(srv: Any) -> None:
    code, body, _ = await srv.call("GET", f"{R}/instances/unknown")
    assert (code, body) == (404, None)
    await start(srv, iid="s1", body=json.dumps(json.dumps({"a": 1})))
    code, body, headers = await srv.call("GET", f"{W}/instances/s1")
    assert code == 202 and headers["Retry-After"] == "5" and headers["Location"].endswith("/instances/s1")
    assert body["runtimeStatus"] == "Pending" and body["input"] == '{"a": 1}' and "historyEvents" not in body
    assert body["createdTime"].endswith("Z") and "." not in body["createdTime"]
    set_row(srv, "s1", runtime_status="Completed", output='["Hello"]', custom_status='{"step":2}')
    code, body, _ = await srv.call("GET", f"{R}/instances/s1?showInput=false&showHistory=true")
    assert code == 200 and body["output"] == ["Hello"] and body["customStatus"] == {"step": 2}
    assert body["input"] is None and body["historyEvents"] == []
    set_row(srv, "s1", runtime_status="Failed", output="Orchestrator function 'x' failed: boom")
    code, body, _ = await srv.call("GET", f"{R}/instances/s1")
    assert code == 200 and body["output"] == "Orchestrator function 'x' failed: boom"
    code, _, _ = await srv.call("GET", f"{R}/instances/s1?returnInternalServerErrorOnFailure=TRUE")
    assert code == 500


async def test_list_filters_and_continuation(srv: Any) -> None:
    for iid in ("job-1", "job-2", "other-1"):
        await start(srv, iid=iid)
    set_row(srv, "job-2", runtime_status="Completed")
    code, body, _ = await srv.call("GET", f"{R}/instances/")
    assert code == 200 and sorted(i["instanceId"] for i in body) == ["job-1", "job-2", "other-1"]
    code, body, _ = await srv.call("GET", f"{R}/instances/?instanceIdPrefix=job-&runtimeStatus=Completed,Bogus")
    assert [i["instanceId"] for i in body] == ["job-2"]
    code, body, _ = await srv.call("GET", f"{R}/instances/?runtimeStatus=pending&runtimeStatus=completed")
    assert len(body) == 3
    future = (datetime.now(timezone.utc) + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    code, body, _ = await srv.call("GET", f"{R}/instances/?createdTimeFrom={future}")
    assert body == []
    code, page1, headers = await srv.call("GET", f"{R}/instances/?top=2")
    token = headers["x-ms-continuation-token"]
    _, page2, headers2 = await srv.call("GET", f"{R}/instances/?top=2", headers={"x-ms-continuation-token": token})
    assert len(page1) == 2 and len(page2) == 1 and "x-ms-continuation-token" not in headers2


async def test_purge(srv: Any) -> None:
    await start(srv, iid="p1")
    await start(srv, iid="p2")
    assert (await srv.call("DELETE", f"{R}/instances/p1"))[:2] == (200, {"instancesDeleted": 1})
    assert srv.store.get_instance("p1") is None
    assert (await srv.call("DELETE", f"{R}/instances/p1"))[0] == 404
    code, body, _ = await srv.call("DELETE", f"{R}/instances/")
    assert (code, body) == (400, "Please provide value for 'createdTimeFrom' parameter.")
    code, body, _ = await srv.call("DELETE", f"{R}/instances/?createdTimeFrom=2000-01-01T00:00:00Z")
    assert (code, body) == (200, {"instancesDeleted": 1})
    code, _, _ = await srv.call("DELETE", f"{R}/instances/?createdTimeFrom=2000-01-01T00:00:00Z")
    assert code == 404


async def test_raise_event(srv: Any) -> None:
    ev_path = f"{R}/instances/e1/raiseEvent/Approval"
    assert (await srv.call("POST", ev_path, json={"ok": True}))[0] == 404
    await start(srv, iid="e1")
    code, err, _ = await srv.call("POST", ev_path, data="yes", headers={"Content-Type": "text/plain"})
    assert code == 400 and err["Message"] == "Only application/json request content is supported"
    code, err, _ = await srv.call("POST", ev_path, data="{bad", headers={"Content-Type": "application/json"})
    assert code == 400 and err["Message"] == "Invalid JSON content"
    code, body, _ = await srv.call("POST", ev_path, data='{ "ok" : true }',
                                   headers={"Content-Type": "application/json; charset=utf-8"})
    assert (code, body) == (202, None)
    raised = queued(srv, "e1")[-1]
    assert raised["EventType"] == EventType.EventRaised and raised["Name"] == "Approval"
    assert raised["Input"] == '{"ok":true}'
    set_row(srv, "e1", runtime_status="Completed")
    assert (await srv.call("POST", ev_path, json={"ok": True}))[0] == 410


@pytest.mark.parametrize(("op", "event_type", "field"), [
    ("terminate", EventType.ExecutionTerminated, "Input"),
    ("suspend", EventType.ExecutionSuspended, "Reason"),
    ("resume", EventType.ExecutionResumed, "Reason"),
    ("Terminate", EventType.ExecutionTerminated, "Input"),
])
async def test_lifecycle_operations(srv: Any, op: str, event_type: int, field: str) -> None:
    assert (await srv.call("POST", f"{R}/instances/t1/{op}?reason=why"))[0] == 404
    await start(srv, iid="t1")
    if op == "resume":  # only a suspended instance can be resumed
        set_row(srv, "t1", runtime_status="Suspended")
    assert (await srv.call("POST", f"{R}/instances/t1/{op}?reason=because%20yes"))[:2] == (202, None)
    msg = queued(srv, "t1")[-1]
    assert msg["EventType"] == event_type and msg[field] == "because yes"
    for status in ("Completed", "Failed", "Terminated", "Canceled"):
        set_row(srv, "t1", runtime_status=status)
        assert (await srv.call("POST", f"{R}/instances/t1/{op}"))[0] == 410


@pytest.mark.parametrize(("op", "status", "needle"), [
    ("suspend", "Suspended", "already suspended"),
    ("resume", "Running", "it is Running, not suspended"),
    ("resume", "Pending", "it is Pending, not suspended"),
])
async def test_suspend_suspended_or_resume_unsuspended_is_a_409_with_the_message(
    srv: Any, op: str, status: str, needle: str
) -> None:
    await start(srv, iid="s1")
    set_row(srv, "s1", runtime_status=status)
    before = len(queued(srv, "s1"))
    code, body, _ = await srv.call("POST", f"{R}/instances/s1/{op}?reason=again")
    # The extension answers 500 here; a 409 with the same kind of error is the deliberate
    # difference (no 5xx from this host), and the SDK client raises on either.
    assert code == 409
    assert body["ExceptionType"] == "System.InvalidOperationException" and needle in body["ExceptionMessage"]
    assert len(queued(srv, "s1")) == before  # nothing was recorded


async def test_rewind_only_failed(srv: Any) -> None:
    assert (await srv.call("POST", f"{R}/instances/rw/rewind?reason=r"))[0] == 404
    await start(srv, iid="rw")
    assert (await srv.call("POST", f"{R}/instances/rw/rewind?reason=r"))[0] == 410  # Pending
    set_row(srv, "rw", runtime_status="Failed")
    code, _, _ = await srv.call("POST", f"{R}/instances/rw/rewind?reason=retry it")
    assert code == 202 and queued(srv, "rw")[-1]["EventType"] == EventType.ExecutionRewound
    set_row(srv, "rw", runtime_status="Completed")
    assert (await srv.call("POST", f"{R}/instances/rw/rewind"))[0] == 410


async def test_restart(srv: Any) -> None:
    code, err, _ = await srv.call("POST", f"{R}/instances/none/restart")
    assert code == 400 and err["ExceptionMessage"] == "InstanceId does not match a valid orchestration instance."
    await start(srv, iid="r1", body=json.dumps(json.dumps([1, 2])), query="?version=3")
    code, body, headers = await srv.call("POST", f"{R}/instances/r1/restart?restartWithNewInstanceId=true")
    assert code == 202 and body["id"] != "r1" and headers["Retry-After"] == "10"
    new = srv.store.get_instance(body["id"])
    old = srv.store.get_instance("r1")
    assert (new.input, new.version, new.name) == (old.input, "3", old.name)
    code, _, _ = await srv.call("POST", f"{R}/instances/r1/restart?restartWithNewInstanceId=false")
    assert code == 409  # still running
    set_row(srv, "r1", runtime_status="Completed")
    code, body, _ = await srv.call("POST", f"{R}/instances/r1/restart?restartWithNewInstanceId=false")
    assert code == 202 and body["id"] == "r1" and srv.store.get_instance("r1").runtime_status == "Pending"


async def test_entities(srv: Any) -> None:
    assert (await srv.call("GET", f"{R}/entities/counter/c1"))[0] == 404
    code, _, _ = await srv.call("POST", f"{R}/entities/Counter/c1?op=add", json=json.dumps(5))
    assert code == 202
    msg = queued(srv, "@counter@c1")[-1]
    assert msg["EventType"] == EventType.EventRaised and msg["Name"] == "op"
    request = json.loads(msg["Input"])
    assert request["op"] == "add" and request["signal"] is True and request["input"] == '"5"'
    await srv.call("DELETE", f"{R}/entities/counter/c1")
    assert json.loads(queued(srv, "@counter@c1")[-1]["Input"])["op"] == "delete"
    await srv.call("POST", f"{R}/entities/counter/c2?op=reset")
    assert "input" not in json.loads(queued(srv, "@counter@c2")[-1]["Input"])
    await srv.call("POST", f"{R}/entities/counter/c2?op=say", data="hi", headers={"Content-Type": "text/plain"})
    assert json.loads(queued(srv, "@counter@c2")[-1]["Input"])["input"] == '"hi"'
    code, err, _ = await srv.call("POST", f"{R}/entities/counter/c3?op=x", data="{",
                                  headers={"Content-Type": "application/json"})
    assert code == 400 and err["Message"].startswith("Could not parse JSON content")
    code, err, _ = await srv.call("POST", f"{R}/entities/nosuch/k?op=x")
    assert code == 400 and "is not an entity function" in err["ExceptionMessage"]
    assert srv.store.list_messages("@nosuch@k") == []
    now = srv.ctx.clock.now()
    from durable_local.store.base import InstanceRecord

    srv.store.set_instance_row(InstanceRecord(instance_id="@counter@c1", name="counter", runtime_status="Running",
                                              created_time=now, last_updated_time=now, entity_state="7",
                                              entity_exists=True))
    code, body, _ = await srv.call("GET", f"{W}/entities/counter/c1")
    assert (code, body) == (200, 7)
    code, body, _ = await srv.call("GET", f"{R}/entities/counter?fetchState=true")
    assert body == [{"entityId": {"name": "counter", "key": "c1"}, "lastOperationTime": body[0]["lastOperationTime"],
                     "state": 7}]
    code, body, _ = await srv.call("GET", f"{R}/entities/")
    assert code == 200 and body[0]["state"] is None
    assert (await srv.call("GET", f"{R}/instances/@counter@c1"))[0] == 404  # entities are not instances


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"{R}/orchestrators/hello_orchestrator"),
    ("PUT", f"{R}/instances/x"),
    ("GET", f"{R}/instances/x/terminate"),
    ("POST", f"{R}/instances/x/explode"),
    ("GET", f"{R}/nothing/here"),
    ("POST", f"{R}/instances/"),
    ("GET", f"{W}"),
])
async def test_unknown_routes_are_404(srv: Any, method: str, path: str) -> None:
    assert (await srv.call(method, path))[0] == 404
