"""Terminate, suspend/resume, rewind, non-determinism, unknown functions, duplicate and
stale messages, the monotonic orchestration clock and older replay schemas."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.durable_functions as df
import pytest

from durable_local.engine import (
    activity_completed_message,
    resume_message,
    rewind_message,
    suspend_message,
    terminate_message,
)
from durable_local.engine.events import EventType, parse_timestamp

from .driver import Driver

app = df.DFApp()
FAIL_ONCE: dict[str, int] = {}


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext):
    return (yield context.wait_for_external_event("Go"))


@app.orchestration_trigger(context_name="context")
def parent_of_waiter(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("waiter", None, instance_id="kid")
    except Exception as exc:
        return f"child failed: {exc}"


@app.orchestration_trigger(context_name="context")
def two_steps(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("step_a", 1)
    b = yield context.call_activity("step_b", a)
    return b


@app.orchestration_trigger(context_name="context")
def two_steps_changed(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("step_b", 1)
    return a


@app.activity_trigger(input_name="n")
def step_a(n: int) -> int:
    return n + 1


@app.activity_trigger(input_name="n")
def step_b(n: int) -> int:
    if FAIL_ONCE.get("b"):
        FAIL_ONCE["b"] -= 1
        raise RuntimeError("transient")
    return n * 10


@app.orchestration_trigger(context_name="context")
def calls_missing(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("nope", None))


def test_terminate_running_instance_notifies_parent_as_failure() -> None:
    d = Driver(app)
    d.start("parent_of_waiter")
    d.run()
    assert d.status("kid") == "Running"
    d.enqueue(terminate_message("kid", "enough", d.now))
    d.run()
    assert d.status("kid") == "Terminated" and d.instances["kid"].output == "enough"
    assert d.trace("kid")[-2:] == ["TERM(-1)", "EC(-1)"]
    assert d.output() == "child failed: enough \n None"
    d.raise_event("kid", "Go", 1)
    d.run()
    assert any("instance is Terminated" in line for line in d.log)
    assert d.status("kid") == "Terminated"


def test_suspended_instance_records_events_but_runs_nothing_until_resumed() -> None:
    d = Driver(app)
    d.start("waiter")
    d.run()
    d.enqueue(suspend_message("inst", "pause", d.now))
    d.run()
    assert d.status() == "Suspended"
    d.raise_event("inst", "Go", 42)
    d.run()
    assert d.status() == "Suspended"
    assert d.queue == []  # consumed and appended to history, not left to spin
    d.enqueue(resume_message("inst", "go on", d.now))
    d.run()
    assert d.status() == "Completed" and d.output() == 42
    assert d.trace() == ["SUS(-1)", "ER(-1)", "RES(-1)", "EC(0)"]


def test_changed_orchestrator_code_fails_with_nondeterminism_message() -> None:
    d = Driver(app)
    d.start("two_steps")
    d.run_episodes()  # TaskScheduled(0) step_a recorded
    changed = d.registry.orchestrators["two_steps_changed"][1]
    d.options.resolve_orchestrator = lambda _name: changed
    d.run()
    assert d.status() == "Failed"
    out = d.instances["inst"].output or ""
    assert "sequence ID 0" in out and "'step_a'" in out and "'step_b'" in out
    assert "Was a change made to the orchestrator code after this instance had already started running?" in out


def test_unknown_activity_fails_with_known_function_list() -> None:
    d = Driver(app)
    d.start("calls_missing")
    d.run()
    out = d.instances["inst"].output or ""
    assert d.status() == "Failed"
    assert "The function 'nope' doesn't exist, is disabled, or is not an activity function." in out
    assert "'step_a'" in out


def test_duplicate_and_stale_completions_are_dropped() -> None:
    d = Driver(app)
    d.start("two_steps")
    d.run_episodes()
    [work] = d.activity_queue
    done = d.execute_activity(work)
    d.activity_queue.clear()
    dup = activity_completed_message(work, '"x"', d.now)
    stale = activity_completed_message(work, '"y"', d.now)
    stale.payload["_executionId"] = "old-execution"
    d.enqueue(done, dup, stale)
    d.run_episodes()
    assert d.trace() == ["TS(0)", "TC(0)", "TS(1)"]
    assert any("duplicate TaskCompleted" in line for line in d.log)
    assert any("stale execution old-execution" in line for line in d.log)
    assert d.queue == []


def test_orchestrator_clock_never_goes_backwards() -> None:
    d = Driver(app)
    d.start("two_steps")
    d.run_episodes()
    first = parse_timestamp(d.history()[0]["Timestamp"])
    d.now = first - timedelta(hours=1)
    d.run_activities()
    d.run_episodes()
    starts = [parse_timestamp(e["Timestamp"]) for e in d.history() if e["EventType"] == 12]
    assert starts == sorted(starts) and starts[-1] == first


def test_rewind_redispatches_failed_activity_and_completes() -> None:
    FAIL_ONCE["b"] = 1
    d = Driver(app)
    d.start("two_steps")
    d.run()
    assert d.status() == "Failed"
    d.enqueue(rewind_message("inst", "retry please", d.now))
    d.run()
    assert d.status() == "Completed" and d.output() == 20
    types = [e["EventType"] for e in d.history()]
    assert EventType.TaskFailed not in types and types.count(EventType.ExecutionCompleted) == 1


def test_restart_of_completed_id_replaces_history() -> None:
    d = Driver(app)
    d.start("waiter")
    d.raise_event("inst", "Go", 1)
    d.run()
    assert d.output() == 1
    first_created = d.instances["inst"].created_time
    d.now += timedelta(minutes=5)
    record, history = d.instances["inst"], d.history()
    d.start("waiter")
    # as if the store kept the old row and history until the new ExecutionStarted is claimed
    d.instances["inst"], d.histories["inst"] = record, history
    d.raise_event("inst", "Go", 2)
    d.run()
    assert d.output() == 2
    assert d.instances["inst"].created_time > first_created
    assert [r.replace_history for t, r in d.results if t == "inst"][-1] is True
    assert d.trace() == ["ER(-1)", "EC(0)"]


@pytest.mark.parametrize(("upper", "new"), [(1, None), (None, None)])
def test_older_replay_schemas_are_understood(upper: int | None, new: int | None) -> None:
    d = Driver(app, overrides={"upper_schema_version": upper, "upper_schema_version_new": new})
    d.start("two_steps")
    d.run()
    assert d.output() == 20


def test_orchestrator_crash_without_state_fails_instance() -> None:
    def crash(_ctx: str) -> str:
        raise RuntimeError("worker exploded")

    d = Driver(app, overrides={"resolve_orchestrator": lambda _n: crash})
    d.start("two_steps")
    d.run()
    assert d.instances["inst"].output == "Orchestrator function 'two_steps' failed: RuntimeError: worker exploded"
    assert json.loads(json.dumps(d.history()))  # history stays JSON-serializable
