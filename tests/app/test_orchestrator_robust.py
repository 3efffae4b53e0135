"""robust_orchestrator: retry policy JSON, retry-then-success, retries exhausted + compensation."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.app.harness import actions, run_orchestrator
from tests.app.history import START, History

INPUT = {"failTimes": 1, "payload": {"x": 1}}


def test_emits_retry_action_with_full_seed_policy():
    state = run_orchestrator("robust_orchestrator", History("robust_orchestrator", INPUT, instance_id="rb-1"))
    (wrapper,) = actions(state)
    assert wrapper["actionType"] == 12
    (call,) = wrapper["compoundActions"]
    assert call["actionType"] == 1
    assert call["functionName"] == "UnreliableActivity"
    assert call["retryOptions"] == {
        "firstRetryIntervalInMilliseconds": 5000,
        "maxNumberOfAttempts": 3,
        "backoffCoefficient": 2.0,
        "maxRetryIntervalInMilliseconds": 60000,
    }
    assert json.loads(call["input"]) == {**INPUT, "key": "rb-1:unreliable"}


def failed_attempt(h: History, task_id: int, timer_id: int, delay_ms: int) -> History:
    fire = h.now + timedelta(milliseconds=delay_ms)
    h.episode().task_failed(
        task_id,
        "Activity function 'UnreliableActivity' failed:  SimulatedFailure: boom",
        '{"Message": "boom"}',
    )
    h.timer_created(timer_id, fire)
    return h.episode(timedelta(milliseconds=delay_ms)).timer_fired(timer_id, fire)


def test_retry_then_success_returns_result():
    h = History("robust_orchestrator", INPUT, instance_id="rb-1").task_scheduled(0, "UnreliableActivity")
    failed_attempt(h, 0, 1, 5000)
    state = run_orchestrator("robust_orchestrator", h)
    assert state["isDone"] is False
    h.task_scheduled(2, "UnreliableActivity").episode().task_completed(2, {"attempt": 2})
    state = run_orchestrator("robust_orchestrator", h)
    assert state["isDone"] is True
    assert state["output"] == {"status": "success", "result": {"attempt": 2}}
    assert state["customStatus"] == {"step": "succeeded"}


def test_retries_exhausted_runs_compensation_and_reports_failure():
    h = History("robust_orchestrator", INPUT, instance_id="rb-1").task_scheduled(0, "UnreliableActivity")
    failed_attempt(h, 0, 1, 5000)
    h.task_scheduled(2, "UnreliableActivity")
    failed_attempt(h, 2, 3, 10000)
    h.task_scheduled(4, "UnreliableActivity")
    failed_attempt(h, 4, 5, 0)
    state = run_orchestrator("robust_orchestrator", h)
    compensate = actions(state)[-1]
    assert compensate["actionType"] == 0 and compensate["functionName"] == "CompensateFailure"
    payload = json.loads(compensate["input"])
    assert payload["idempotencyKey"] == "rb-1:compensate"
    assert payload["input"] == INPUT
    assert "SimulatedFailure: boom" in payload["error"]
    assert state["customStatus"] == {"step": "compensating"}

    h.task_scheduled(6, "CompensateFailure").episode().task_completed(6, {})
    state = run_orchestrator("robust_orchestrator", h)
    assert state["isDone"] is True
    assert state["output"]["status"] == "failed"
    assert state["output"]["error"].startswith("Activity function 'UnreliableActivity' failed")
    assert h.now > START
