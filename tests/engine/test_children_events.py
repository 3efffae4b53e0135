"""Sub-orchestrations (incl. failing children and retries), external events and
continue-as-new (new execution, id restart, carried-over events, custom status)."""

from __future__ import annotations

import azure.durable_functions as df

from durable_local.engine.events import EventType

from .driver import Driver

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    a = yield context.call_sub_orchestrator("child", 2)
    b = yield context.call_sub_orchestrator("child", 3, instance_id="fixed-child")
    return a + b


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("double", context.get_input()))


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    return 2 * n


@app.orchestration_trigger(context_name="context")
def parent_of_bad(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("bad_child", None)
    except Exception as exc:
        return f"caught: {exc}"


@app.orchestration_trigger(context_name="context")
def parent_retrying_bad(context: df.DurableOrchestrationContext):
    yield context.call_sub_orchestrator_with_retry("bad_child", df.RetryOptions(500, 2))


@app.orchestration_trigger(context_name="context")
def bad_child(context: df.DurableOrchestrationContext):
    raise ValueError("boom")
    yield  # pragma: no cover


@app.orchestration_trigger(context_name="context")
def three_events(context: df.DurableOrchestrationContext):
    got = []
    for _ in range(3):
        got.append((yield context.wait_for_external_event("E")))
    return got


@app.orchestration_trigger(context_name="context")
def counter_loop(context: df.DurableOrchestrationContext):
    n = context.get_input()
    context.set_custom_status({"n": n})
    if n < 3:
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def collect(context: df.DurableOrchestrationContext):
    seen = context.get_input() or []
    value = yield context.wait_for_external_event("E")
    seen = [*seen, value]
    if len(seen) < 3:
        context.continue_as_new(seen)
        return None
    return seen


def test_sub_orchestrations_default_and_explicit_ids() -> None:
    d = Driver(app)
    d.start("parent")
    d.run()
    assert d.output() == 10
    exec_id = d.instances["inst"].execution_id
    assert d.instances[f"{exec_id}:0"].runtime_status == "Completed"
    assert d.instances["fixed-child"].parent_instance_id == "inst"
    assert d.trace() == ["SC(0)", "SCC(0)", "SC(1)", "SCC(1)", "EC(2)"]
    created = [e for e in d.history() if e["EventType"] == EventType.SubOrchestrationInstanceCreated]
    assert created[0]["InstanceId"] == f"{exec_id}:0" and created[0]["Input"] == '"2"'
    child_start = d.history(f"{exec_id}:0")[1]
    assert child_start["ParentInstance"]["OrchestrationInstance"]["InstanceId"] == "inst"
    assert child_start["ParentInstance"]["TaskScheduleId"] == 0


def test_failing_child_surfaces_as_exception_in_parent() -> None:
    d = Driver(app)
    d.start("parent_of_bad")
    d.run()
    out = d.output()
    assert out.startswith("caught: Orchestrator function 'bad_child' failed: boom")
    child_id = f"{d.instances['inst'].execution_id}:0"
    assert d.status(child_id) == "Failed"
    assert d.instances[child_id].output == "Orchestrator function 'bad_child' failed: boom"


def test_sub_orchestration_retry_uses_new_child_ids_and_fails_after_last_timer() -> None:
    d = Driver(app)
    d.start("parent_retrying_bad")
    d.run()
    assert d.status() == "Failed"
    assert d.trace() == ["SC(0)", "SCF(0)", "TMC(1)", "TMF(1)", "SC(2)", "SCF(2)", "TMC(3)", "TMF(3)", "EC(4)"]
    exec_id = d.instances["inst"].execution_id
    assert {f"{exec_id}:0", f"{exec_id}:2"} <= set(d.instances)


def test_external_events_in_one_batch_are_delivered_in_order() -> None:
    d = Driver(app)
    d.start("three_events")
    d.run()
    for v in (1, 2, 3):
        d.raise_event("inst", "E", v)
    d.run()
    assert d.output() == [1, 2, 3]
    episodes = [r for t, r in d.results if t == "inst"]
    assert len(episodes) == 2


def test_continue_as_new_starts_new_executions_and_keeps_custom_status() -> None:
    d = Driver(app)
    d.start("counter_loop", 0)
    first_exec = d.instances["inst"].execution_id
    d.run_episodes()
    assert d.status() == "ContinuedAsNew"
    assert d.instances["inst"].custom_status == '{"n":0}'
    assert d.trace() == ["CAN(0)"]
    can = d.history()[-2]
    assert can["OrchestrationStatus"] == 2 and can["Result"] == '"1"'
    d.run()
    assert d.status() == "Completed" and d.output() == 3
    assert d.instances["inst"].execution_id != first_exec
    assert d.instances["inst"].custom_status == '{"n":3}'
    # the stored history is the last execution only, whose input is the carried value
    assert d.history()[1]["Input"] == '"3"'
    assert [r.replace_history for t, r in d.results if t == "inst"] == [False, True, True, True]


def test_continue_as_new_carries_over_later_events() -> None:
    d = Driver(app)
    d.start("collect")
    d.run()
    for v in ("a", "b", "c"):
        d.raise_event("inst", "E", v)
    d.run()
    assert d.output() == ["a", "b", "c"]
