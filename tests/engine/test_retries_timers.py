"""Retry loops run by the host (exact sequence ids, backoff, the final zero-delay timer),
durable timers, cancellation through task_any, and V3 long timers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from durable_local.engine.events import parse_timestamp

from .driver import Driver

app = df.DFApp()
FAILURES: dict[str, int] = {}


class BackoffRetry(df.RetryOptions):
    """RetryOptions with the extra fields the extension understands (PROTOCOL §3.4)."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(super().to_json())
        data.update({"backoffCoefficient": 2, "maxRetryIntervalInMilliseconds": 3000})
        return data


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    remaining = FAILURES.get(key, 0)
    if remaining:
        FAILURES[key] = remaining - 1
        raise ValueError(f"flaky {key}")
    return f"ok {key}"


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    opts = df.RetryOptions(1000, context.get_input()["attempts"])
    return (yield context.call_activity_with_retry("flaky", opts, context.get_input()["key"]))


@app.orchestration_trigger(context_name="context")
def backoff(context: df.DurableOrchestrationContext):
    return (yield context.call_activity_with_retry("flaky", BackoffRetry(1000, 4), "bo"))


@app.orchestration_trigger(context_name="context")
def retry_fan(context: df.DurableOrchestrationContext):
    a = context.call_activity_with_retry("flaky", df.RetryOptions(1000, 3), "fan")
    b = context.call_activity("flaky", "other")
    return (yield context.task_all([a, b]))


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(hours=1)
    timer = context.create_timer(deadline)
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return {"approved": event.result}
    return "timeout"


@app.orchestration_trigger(context_name="context")
def long_sleep(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(days=10))
    return "woke"


def fire_delays(d: Driver) -> list[timedelta]:
    return [parse_timestamp(e["FireAt"]) - parse_timestamp(e["Timestamp"])
            for e in d.history() if e["EventType"] == 10]


def test_retry_succeeds_on_third_attempt_with_dtfx_ids() -> None:
    FAILURES["k3"] = 2
    d = Driver(app)
    d.start("retrying", {"attempts": 3, "key": "k3"})
    d.run()
    assert d.output() == "ok k3"
    assert d.trace() == ["TS(0)", "TF(0)", "TMC(1)", "TMF(1)", "TS(2)", "TF(2)", "TMC(3)", "TMF(3)",
                         "TS(4)", "TC(4)", "EC(5)"]
    assert fire_delays(d) == [timedelta(seconds=1), timedelta(seconds=1)]


def test_retry_exhausted_waits_for_zero_delay_timer_then_fails() -> None:
    FAILURES["k2"] = 5
    d = Driver(app)
    d.start("retrying", {"attempts": 2, "key": "k2"})
    d.run()
    assert d.status() == "Failed"
    assert d.trace() == ["TS(0)", "TF(0)", "TMC(1)", "TMF(1)", "TS(2)", "TF(2)", "TMC(3)", "TMF(3)", "EC(4)"]
    assert fire_delays(d) == [timedelta(seconds=1), timedelta(0)]
    out = d.instances["inst"].output or ""
    assert out.startswith(
        "Orchestrator function 'retrying' failed: Activity function 'flaky' failed:  ValueError: flaky k2")


def test_retry_backoff_coefficient_and_max_interval_are_honoured() -> None:
    FAILURES["bo"] = 3
    d = Driver(app)
    d.start("backoff")
    d.run()
    assert d.output() == "ok bo"
    assert fire_delays(d) == [timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=3)]


def test_retry_inside_task_all_interleaves_ids_in_history_order() -> None:
    FAILURES["fan"] = 2
    d = Driver(app)
    d.start("retry_fan")
    d.run()
    assert d.output() == ["ok fan", "ok other"]
    assert d.trace() == ["TS(0)", "TS(1)", "TF(0)", "TC(1)", "TMC(2)", "TMF(2)", "TS(3)", "TF(3)", "TMC(4)",
                         "TMF(4)", "TS(5)", "TC(5)", "EC(6)"]


def test_task_any_event_wins_and_canceled_timer_does_not_block_completion() -> None:
    d = Driver(app)
    d.start("approval")
    d.run(timers=False)
    d.raise_event("inst", "Approval", True)
    d.run(timers=False)
    assert d.status() == "Completed"
    assert d.output() == {"approved": True}
    assert d.trace() == ["TMC(0)", "ER(-1)", "EC(1)"]


def test_task_any_timer_wins_without_event() -> None:
    d = Driver(app)
    d.start("approval")
    d.run()
    assert d.output() == "timeout"
    assert d.trace() == ["TMC(0)", "TMF(0)", "EC(1)"]


def test_long_timer_is_split_into_segments_by_the_sdk() -> None:
    d = Driver(app)
    d.start("long_sleep")
    d.run()
    assert d.output() == "woke"
    created = [e for e in d.history() if e["EventType"] == 10]
    assert len(created) == 3  # +3 days, +3 days, then the remaining 4 days (<= 6)
    assert parse_timestamp(created[-1]["FireAt"]) == parse_timestamp(d.history()[1]["Timestamp"]) + timedelta(days=10)


def test_long_timer_not_split_when_disabled() -> None:
    d = Driver(app, overrides={"max_short_timer": "00:00:00", "long_timer_interval": "00:00:00"})
    d.start("long_sleep")
    d.run()
    assert d.output() == "woke"
    assert d.trace() == ["TMC(0)", "TMF(0)", "EC(1)"]
