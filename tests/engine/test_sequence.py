"""Chaining, fan-out/fan-in, custom status, versioning, call_http and the shape of what the
engine writes, driven through the real SDK."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import pytest

from durable_local.engine import HTTP_ACTIVITY, history_for_status
from durable_local.store.base import ACTIVITY_QUEUE

from .driver import Driver

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def hello_seq(context: df.DurableOrchestrationContext):
    out = []
    for city in context.get_input()["cities"]:
        out.append((yield context.call_activity("say_hello", city)))
    context.set_custom_status({"done": len(out)})
    return out


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext):
    tasks = [context.call_activity("square", i) for i in range(context.get_input())]
    results = yield context.task_all(tasks)
    return sum(results)


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    return n * n


@app.orchestration_trigger(context_name="context", orchestration="Versioned")
def versioned(context: df.DurableOrchestrationContext):
    child = yield context.call_sub_orchestrator("child_version", None, version="2.0")
    return {"mine": context.version, "child": child}


@app.orchestration_trigger(context_name="context")
def child_version(context: df.DurableOrchestrationContext):
    return context.version
    yield  # pragma: no cover - makes this a generator


@app.orchestration_trigger(context_name="context")
def http_orch(context: df.DurableOrchestrationContext):
    resp = yield context.call_http("POST", "https://example.com/api", content={"a": 1}, headers={"h": "v"})
    return resp["statusCode"]


def test_sequence_completes_with_expected_history_and_status() -> None:
    d = Driver(app)
    d.start("hello_seq", {"cities": ["Tokyo", "Seattle"]})
    d.run()
    assert d.status() == "Completed"
    assert d.output() == ["Hello Tokyo!", "Hello Seattle!"]
    assert d.instances["inst"].custom_status == '{"done":2}'
    assert d.trace() == ["TS(0)", "TC(0)", "TS(1)", "TC(1)", "EC(2)"]
    ts = next(e for e in d.history() if e["EventType"] == 4)
    assert ts["Input"] == json.dumps(['"Tokyo"'])
    tc = next(e for e in d.history() if e["EventType"] == 5)
    assert tc["Result"] == '"Hello Tokyo!"'
    done = d.history()[-2]
    assert done["EventType"] == 1 and done["Result"] == '["Hello Tokyo!","Hello Seattle!"]'
    # each episode is bracketed by OrchestratorStarted / OrchestratorCompleted
    assert [e["EventType"] for e in d.history()].count(12) == 3
    assert d.history()[-1]["EventType"] == 13


def test_first_episode_creates_running_row_when_instance_is_missing() -> None:
    d = Driver(app)
    d.start("hello_seq", {"cities": ["A"]})
    del d.instances["inst"]  # the child case: the row is created by the first episode
    d.run_episodes()
    rec = d.instances["inst"]
    assert rec.runtime_status == "Running" and rec.name == "hello_seq"
    assert rec.input == json.dumps(json.dumps({"cities": ["A"]}))
    [work] = d.activity_queue
    assert work.queue == ACTIVITY_QUEUE
    assert work.payload == {"instanceId": "inst", "executionId": rec.execution_id, "taskScheduledId": 0,
                            "name": "say_hello", "input": '"A"'}


def test_fan_out_fan_in_coalesces_completions_into_one_episode() -> None:
    d = Driver(app)
    d.start("fan", 5)
    d.run()
    assert d.output() == 0 + 1 + 4 + 9 + 16
    assert d.trace() == [f"TS({i})" for i in range(5)] + [f"TC({i})" for i in range(5)] + ["EC(5)"]
    orch_episodes = [r for t, r in d.results if t == "inst"]
    assert len(orch_episodes) == 2


def test_version_comes_from_start_and_sub_orchestration_action() -> None:
    d = Driver(app)
    d.start("versioned", version="1.0")
    d.run()
    assert d.output() == {"mine": "1.0", "child": "2.0"}
    exec_id = d.instances["inst"].execution_id
    child = d.instances[f"{exec_id}:0"]
    assert child.version == "2.0" and child.parent_instance_id == "inst"


def test_default_version_applies_to_children_without_version() -> None:
    capp = df.DFApp()

    @capp.orchestration_trigger(context_name="context")
    def parent(context: df.DurableOrchestrationContext):
        return (yield context.call_sub_orchestrator("kid"))

    @capp.orchestration_trigger(context_name="context")
    def kid(context: df.DurableOrchestrationContext):
        return context.version
        yield  # pragma: no cover

    d = Driver(capp, overrides={"default_version": "9"})
    d.start("parent")
    d.run()
    assert d.output() == "9"


def test_call_http_schedules_builtin_http_activity() -> None:
    d = Driver(app)
    d.start("http_orch")
    d.run()
    assert d.status() == "Running"
    [work] = d.activity_queue
    assert work.payload["name"] == HTTP_ACTIVITY
    request = json.loads(work.payload["input"])
    assert request["method"] == "POST" and request["uri"] == "https://example.com/api"
    assert json.loads(request["content"]) == {"a": 1}
    ts = next(e for e in d.history() if e["EventType"] == 4)
    assert ts["Name"] == HTTP_ACTIVITY
    assert json.loads(ts["Input"]) == [request]
    from durable_local.engine import activity_completed_message

    response = {"statusCode": 201, "headers": {}, "content": "{}"}
    d.activity_queue.clear()
    d.enqueue(activity_completed_message(work, json.dumps(response), d.now))
    d.run()
    assert d.output() == 201


@pytest.mark.parametrize("show_output", [True, False])
def test_history_for_status_merges_scheduling_into_completions(show_output: bool) -> None:
    d = Driver(app)
    d.start("hello_seq", {"cities": ["Tokyo"]})
    d.run()
    items: list[dict[str, Any]] = history_for_status(d.history(), show_input=True, show_output=show_output)
    assert [i["EventType"] for i in items] == ["ExecutionStarted", "TaskCompleted", "ExecutionCompleted"]
    assert items[0]["FunctionName"] == "hello_seq"
    assert items[1]["FunctionName"] == "say_hello" and "ScheduledTime" in items[1]
    assert items[2]["OrchestrationStatus"] == "Completed"
    if show_output:
        assert items[1]["Result"] == "Hello Tokyo!"
        assert items[2]["Result"] == ["Hello Tokyo!"]
    else:
        assert "Result" not in items[1]
    assert all("EventId" not in i and "TaskScheduledId" not in i for i in items)


def test_envelope_matches_the_extension_shape() -> None:
    seen: list[dict[str, Any]] = []
    real = Driver(app).registry.orchestrators["hello_seq"][1]

    def spy(context_json: str) -> Any:
        seen.append(json.loads(context_json))
        return real(context_json)

    d = Driver(app, overrides={"resolve_orchestrator": lambda _n: spy})
    d.start("hello_seq", {"cities": ["Tokyo"]})
    d.run()
    first, second = seen
    assert first["input"] == json.dumps({"cities": ["Tokyo"]}) and first["isReplaying"] is False
    assert first["upperSchemaVersion"] == 1 and first["upperSchemaVersionNew"] == 2
    assert first["maximumShortTimerDuration"] == "6.00:00:00"
    assert first["longRunningTimerIntervalDuration"] == "3.00:00:00"
    assert first["parentInstanceId"] is None and first["instanceId"] == "inst"
    assert [e["EventType"] for e in first["history"]] == [12, 0]
    assert second["isReplaying"] is True
    played = {e["EventType"]: e["IsPlayed"] for e in second["history"][:-2]}
    assert played[0] is True and played[12] is False
    assert second["history"][-2]["EventType"] == 12 and second["history"][-1]["IsPlayed"] is False
