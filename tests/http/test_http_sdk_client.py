"""The REAL ``DurableOrchestrationClient`` (azure-functions-durable 1.7.0) against our server.

No dispatcher runs here: started instances stay Pending; rows are moved to terminal states
directly in the store where a test needs them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.durable_functions import EntityId, OrchestrationRuntimeStatus

from durable_local.engine.events import EventType
from durable_local.store.base import InstanceRecord


def set_row(srv: Any, iid: str, **changes: Any) -> None:
    srv.store.set_instance_row(replace(srv.store.get_instance(iid), **changes))


def last_message(srv: Any, target: str) -> dict[str, Any]:
    return srv.store.list_messages(target)[-1].payload


async def test_start_new_with_and_without_id_and_version(srv: Any) -> None:
    client = srv.client()
    iid = await client.start_new("hello_orchestrator", None, {"city": "Tokyo"})
    assert len(iid) == 32
    started = last_message(srv, iid)
    assert started["EventType"] == EventType.ExecutionStarted
    assert json.loads(started["Input"]) == '{"city": "Tokyo"}'
    assert await client.start_new("hello_orchestrator", "my-id") == "my-id"
    assert srv.store.get_instance("my-id").input is None
    assert await client.start_new("NamedOrch", "v-id", 5, version="1.2 beta") == "v-id"
    assert srv.store.get_instance("v-id").version == "1.2 beta"
    with pytest.raises(Exception, match="doesn't exist, is disabled, or is not an orchestrator function"):
        await client.start_new("missing")
    with pytest.raises(Exception, match="must not start with @"):
        await client.start_new("hello_orchestrator", "@bad")
    assert srv.store.get_instance("@bad") is None


async def test_get_status_variants(srv: Any) -> None:
    client = srv.client()
    missing = await client.get_status("nope")
    assert not missing
    iid = await client.start_new("hello_orchestrator", "st-1", {"a": 1})
    status = await client.get_status(iid)
    assert status.runtime_status == OrchestrationRuntimeStatus.Pending
    assert status.input_ == '{"a": 1}' and status.instance_id == iid and status.name == "hello_orchestrator"
    history = [
        {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2024-01-01T00:00:00.0000000Z"},
        last_message(srv, iid) | {"IsPlayed": False},
        {"EventType": 4, "EventId": 0, "IsPlayed": False, "Timestamp": "2024-01-01T00:00:00.1000000Z",
         "Name": "say_hello", "Version": "", "Input": "[\"\\\"Tokyo\\\"\"]"},
        {"EventType": 13, "EventId": -1, "IsPlayed": False, "Timestamp": "2024-01-01T00:00:00.2000000Z"},
        {"EventType": 5, "EventId": -1, "IsPlayed": False, "Timestamp": "2024-01-01T00:00:01.0000000Z",
         "TaskScheduledId": 0, "Result": "\"Hello Tokyo!\""},
    ]
    srv.store._history[iid] = history  # white-box: no dispatcher runs in these tests
    set_row(srv, iid, runtime_status="Completed", output='"Hello Tokyo!"')
    status = await client.get_status(iid, show_history=True, show_history_output=True)
    assert status.runtime_status == OrchestrationRuntimeStatus.Completed and status.output == "Hello Tokyo!"
    events = status.historyEvents
    assert [e["EventType"] for e in events] == ["ExecutionStarted", "TaskCompleted"]
    assert events[1]["FunctionName"] == "say_hello" and events[1]["Result"] == "Hello Tokyo!"
    plain = await client.get_status(iid, show_history=True)
    assert "Result" not in plain.historyEvents[1]


async def test_get_status_all_and_by(srv: Any) -> None:
    client = srv.client()
    for iid in ("a-1", "a-2", "b-1"):
        await client.start_new("hello_orchestrator", iid)
    set_row(srv, "a-2", runtime_status="Completed")
    assert sorted(s.instance_id for s in await client.get_status_all()) == ["a-1", "a-2", "b-1"]
    past = datetime.now(timezone.utc) - timedelta(days=1)
    found = await client.get_status_by(created_time_from=past, runtime_status=[OrchestrationRuntimeStatus.Completed])
    assert [s.instance_id for s in found] == ["a-2"]
    found = await client.get_status_by(instance_id_prefix="a-")
    assert sorted(s.instance_id for s in found) == ["a-1", "a-2"]
    future = datetime.now(timezone.utc) + timedelta(days=800)
    assert await client.get_status_by(created_time_from=future) == []


async def test_raise_event_double_encodes_like_the_real_host(srv: Any) -> None:
    client = srv.client()
    iid = await client.start_new("hello_orchestrator", "ev-1")
    await client.raise_event(iid, "Approval", {"ok": True})
    raised = last_message(srv, iid)
    assert raised["Name"] == "Approval" and raised["EventType"] == EventType.EventRaised
    assert json.loads(raised["Input"]) == '{"ok": true}'  # python issue #295: a JSON string
    await client.raise_event(iid, "Nothing")
    assert json.loads(last_message(srv, iid)["Input"]) == "null"
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises a bare Exception
        await client.raise_event("unknown", "Approval", 1)
    set_row(srv, iid, runtime_status="Completed")
    with pytest.raises(Exception):  # noqa: B017
        await client.raise_event(iid, "Approval", 1)


async def test_terminate_suspend_resume(srv: Any) -> None:
    client = srv.client()
    iid = await client.start_new("hello_orchestrator", "lc-1")
    await client.suspend(iid, "pause please")
    assert last_message(srv, iid)["EventType"] == EventType.ExecutionSuspended
    assert last_message(srv, iid)["Reason"] == "pause please"
    # The client raises, as against the extension (which answers 500; this host 409).
    with pytest.raises(Exception, match="unexpected status code 409"):
        await client.resume(iid, "not suspended yet")
    set_row(srv, iid, runtime_status="Suspended")
    with pytest.raises(Exception, match="unexpected status code 409"):
        await client.suspend(iid, "twice")
    await client.resume(iid, "go on")
    assert last_message(srv, iid)["EventType"] == EventType.ExecutionResumed
    await client.terminate(iid, "stop & cancel")
    term = last_message(srv, iid)
    assert term["EventType"] == EventType.ExecutionTerminated and term["Input"] == "stop & cancel"
    set_row(srv, iid, runtime_status="Terminated")
    await client.terminate(iid, "again")  # 410 is accepted silently by the SDK
    with pytest.raises(Exception, match=r"No instance with ID 'ghost' found\."):
        await client.terminate("ghost", "x")


async def test_rewind(srv: Any) -> None:
    client = srv.client()
    iid = await client.start_new("hello_orchestrator", "rw-1")
    with pytest.raises(Exception, match="only supported on failed orchestration instances"):
        await client.rewind(iid, "why")
    set_row(srv, iid, runtime_status="Failed")
    await client.rewind(iid, "retry")
    assert last_message(srv, iid)["EventType"] == EventType.ExecutionRewound
    with pytest.raises(Exception, match=r"No instance with ID ghost found\."):
        await client.rewind("ghost", "x")


async def test_restart(srv: Any) -> None:
    client = srv.client()
    iid = await client.start_new("hello_orchestrator", "rs-1", ["x"])
    result = await client.restart(iid)
    assert isinstance(result, dict) and result["id"] != iid  # the real host returns the payload
    assert srv.store.get_instance(result["id"]).input == srv.store.get_instance(iid).input
    set_row(srv, iid, runtime_status="Completed")
    result = await client.restart(iid, restart_with_new_instance_id=False)
    assert result["id"] == iid and srv.store.get_instance(iid).runtime_status == "Pending"


async def test_purge(srv: Any) -> None:
    client = srv.client()
    for iid in ("pg-1", "pg-2", "pg-3"):
        await client.start_new("hello_orchestrator", iid)
    assert (await client.purge_instance_history("pg-1")).instances_deleted == 1
    assert (await client.purge_instance_history("pg-1")).instances_deleted == 0
    set_row(srv, "pg-2", runtime_status="Completed")
    past = datetime.now(timezone.utc) - timedelta(days=1)
    result = await client.purge_instance_history_by(created_time_from=past,
                                                    runtime_status=[OrchestrationRuntimeStatus.Completed])
    assert result.instances_deleted == 1
    assert srv.store.get_instance("pg-2") is None and srv.store.get_instance("pg-3") is not None


async def test_entities(srv: Any) -> None:
    client = srv.client()
    entity = EntityId("Counter", "c1")
    assert (await client.read_entity_state(entity)).entity_exists is False
    await client.signal_entity(entity, "add", {"n": 2})
    request = json.loads(last_message(srv, "@counter@c1")["Input"])
    assert request["op"] == "add" and json.loads(json.loads(request["input"])) == {"n": 2}
    await client.signal_entity(entity, "reset")
    assert "input" not in json.loads(last_message(srv, "@counter@c1")["Input"])
    now = srv.ctx.clock.now()
    srv.store.set_instance_row(InstanceRecord(instance_id="@counter@c1", name="counter", runtime_status="Running",
                                              created_time=now, last_updated_time=now,
                                              entity_state='{"n": 2}', entity_exists=True))
    state = await client.read_entity_state(entity)
    assert state.entity_exists is True and state.entity_state == {"n": 2}
    with pytest.raises(Exception):  # noqa: B017 - unknown entity → 400 → the SDK raises
        await client.signal_entity(EntityId("nosuch", "k"), "op")


async def test_http_starter_uses_the_binding_end_to_end(srv: Any) -> None:
    """The app's own starter function: client binding → SDK → our RPC base → check status."""
    code, body, headers = await srv.call("POST", "/api/orchestrators/hello_orchestrator", json="Seattle")
    assert code == 202 and headers["Location"] == body["statusQueryGetUri"]
    assert body["statusQueryGetUri"].startswith(f"{srv.base}/runtime/webhooks/durabletask/instances/{body['id']}")
    rec = srv.store.get_instance(body["id"])
    assert rec.runtime_status == "Pending" and json.loads(rec.input) == '"Seattle"'
    code, status, _ = await srv.call("GET", body["statusQueryGetUri"].replace(srv.base, ""))
    assert code == 202 and status["input"] == '"Seattle"'
