"""Entities: orchestrator calls/signals, error responses, client signals, batching, unknown
entities and batch failures."""

from __future__ import annotations

import json

import azure.durable_functions as df
import pytest

from durable_local.engine import EngineError, entity_signal_message, run_entity_batch
from durable_local.engine.events import EventType
from durable_local.store.base import OrchestrationWorkItem

from .driver import Driver

app = df.DFApp()


@app.entity_trigger(context_name="context", entity_name="Counter")
def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    op = context.operation_name
    if op == "add":
        value += context.get_input()
    elif op == "get":
        context.set_result(value)
    elif op == "boom":
        raise ValueError("bad op")
    context.set_state(value)


@app.orchestration_trigger(context_name="context")
def use_counter(context: df.DurableOrchestrationContext):
    eid = df.EntityId("Counter", "c1")
    context.signal_entity(eid, "add", 5)
    yield context.call_entity(eid, "add", 2)
    total = yield context.call_entity(eid, "get")
    try:
        yield context.call_entity(eid, "boom")
    except Exception as exc:
        return {"total": total, "error": str(exc)}
    return {"total": total}


@app.orchestration_trigger(context_name="context")
def call_missing(context: df.DurableOrchestrationContext):
    yield context.call_entity(df.EntityId("nobody", "k"), "get")


def test_orchestrator_signal_call_and_error_response() -> None:
    d = Driver(app)
    d.start("use_counter")
    d.run()
    assert d.output() == {"total": 7, "error": "bad op"}
    ent = d.instances["@counter@c1"]
    assert ent.entity_exists and ent.entity_state == "7" and ent.name == "counter"
    sent = [e for e in d.history() if e["EventType"] == EventType.EventSent]
    assert [e["EventId"] for e in sent] == [0, 1, 2, 3]
    assert all(e["InstanceId"] == "@counter@c1" and e["Name"] == "op" for e in sent)
    signal = json.loads(sent[0]["Input"])
    assert signal["signal"] is True and signal["input"] == '"5"' and signal["parent"] == "inst"
    call = json.loads(sent[1]["Input"])
    assert "signal" not in call and call["parentExecution"] == d.instances["inst"].execution_id
    responses = [e for e in d.history() if e["EventType"] == EventType.EventRaised]
    assert [r["Name"] for r in responses] == [json.loads(s["Input"])["id"] for s in sent[1:]]
    assert json.loads(responses[1]["Input"]) == {"result": "7"}
    assert json.loads(responses[2]["Input"]) == {"result": '"bad op"', "exceptionType": "Error"}


def test_request_ids_are_deterministic_per_episode() -> None:
    ids = []
    for _ in range(2):
        d = Driver(app)
        d.start("use_counter")
        d.instances["inst"].execution_id = "e1"
        d.queue[0].payload["OrchestrationInstance"]["ExecutionId"] = "e1"
        d.run_episodes()
        sent = [e for e in d.history() if e["EventType"] == EventType.EventSent]
        ids.append([json.loads(e["Input"])["id"] for e in sent])
    assert ids[0] == ids[1]


def test_client_signals_are_batched_into_one_sdk_call() -> None:
    d = Driver(app)
    for n in (1, 2, 3):
        d.enqueue(entity_signal_message("@Counter@c2", "add", json.dumps(json.dumps(n)), d.now))
    d.run()
    entity_runs = [r for t, r in d.results if t == "@counter@c2"]
    assert len(entity_runs) == 1 and entity_runs[0].outgoing == []
    assert d.instances["@counter@c2"].entity_state == "6"


def test_unknown_entity_fails_caller_during_replay() -> None:
    d = Driver(app)
    d.start("call_missing")
    d.run()
    assert d.status() == "Failed"
    assert "The function 'nobody' doesn't exist, is disabled, or is not an entity function" in (
        d.instances["inst"].output or "")


def test_requests_to_unregistered_entity_get_error_responses() -> None:
    d = Driver(app)
    msg = entity_signal_message("@ghost@k", "get", None, d.now, parent="caller")
    req = json.loads(msg.payload["Input"])
    req.pop("signal")
    msg.payload["Input"] = json.dumps(req)
    msg.id = 1
    item = OrchestrationWorkItem("@ghost@k", None, [], [msg], "t")
    res = run_entity_batch(item, d.now, d.options)
    [reply] = res.outgoing
    assert reply.target == "caller" and reply.payload["Name"] == req["id"]
    body = json.loads(reply.payload["Input"])
    assert body["exceptionType"] == "Error" and "doesn't exist" in json.loads(body["result"])
    assert res.consumed == [1]


def test_entity_function_crash_raises_engine_error() -> None:
    d = Driver(app, overrides={"resolve_entity": lambda _n: lambda _ctx: "not json"})
    msg = entity_signal_message("@counter@c3", "add", json.dumps("1"), d.now)
    msg.id = 1
    with pytest.raises(EngineError):
        run_entity_batch(OrchestrationWorkItem("@counter@c3", None, [], [msg], "t"), d.now, d.options)


def test_a_request_delivered_twice_is_applied_once() -> None:
    """Regression (found by R6): at-least-once delivery handed an entity the same request twice
    (in one batch and in a later one) and the operation ran twice."""
    from durable_local.engine.entity import DEDUP_WINDOW, processed_request_ids

    d = Driver(app)
    msg = entity_signal_message("@Counter@c4", "add", json.dumps(json.dumps(5)), d.now)
    dup = entity_signal_message("@Counter@c4", "add", json.dumps(json.dumps(5)), d.now)
    dup.payload = json.loads(json.dumps(msg.payload))
    d.enqueue(msg)
    d.enqueue(dup)
    d.run()
    assert d.instances["@counter@c4"].entity_state == "5"
    again = entity_signal_message("@Counter@c4", "add", json.dumps(json.dumps(5)), d.now)
    again.payload = json.loads(json.dumps(msg.payload))
    d.enqueue(again)
    d.run()
    assert d.instances["@counter@c4"].entity_state == "5"
    assert any("dropped duplicate request" in line for _, r in d.results for line in r.log)
    for _ in range(DEDUP_WINDOW + 5):  # the window is bounded
        d.enqueue(entity_signal_message("@Counter@c4", "add", json.dumps(json.dumps(1)), d.now))
    d.run()
    assert d.instances["@counter@c4"].entity_state == str(5 + DEDUP_WINDOW + 5)
    assert len(processed_request_ids(d.instances["@counter@c4"])) == DEDUP_WINDOW
