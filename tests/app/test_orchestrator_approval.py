"""approval_workflow: the ApprovalResponse event raced against a durable timer."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.app.harness import actions, run_orchestrator
from tests.app.history import START, History, ts

REQUEST = {"orderId": "ord-7", "amountCents": 250000}
# the timer is created in the second episode, one second after the start
DEADLINE = START + timedelta(seconds=1, hours=72)


def waiting_history(request: dict = REQUEST) -> History:
    h = History("approval_workflow", request, instance_id="appr-1")
    h.task_scheduled(0, "SendApprovalRequest").episode().task_completed(0, {"notificationId": "n"})
    h.timer_created(1, DEADLINE)
    return h


def test_sends_request_then_races_event_against_72h_timer():
    state = run_orchestrator("approval_workflow", History("approval_workflow", REQUEST, instance_id="appr-1"))
    (send,) = actions(state)
    assert send["functionName"] == "SendApprovalRequest"
    assert json.loads(send["input"]) == {
        "idempotencyKey": "appr-1:approval-request",
        "requestId": "appr-1",
        "details": REQUEST,
    }

    h = History("approval_workflow", REQUEST, instance_id="appr-1")
    h.task_scheduled(0, "SendApprovalRequest").episode().task_completed(0, {"notificationId": "n"})
    state = run_orchestrator("approval_workflow", h)
    race = actions(state)[1]
    assert race["actionType"] == 11
    wait, timer = race["compoundActions"]
    assert wait == {"actionType": 6, "externalEventName": "ApprovalResponse", "reason": "ExternalEvent"}
    assert timer == {"actionType": 5, "fireAt": ts(DEADLINE), "isCanceled": False}
    assert state["customStatus"] == {"step": "awaiting_approval"}


def test_timeout_hours_come_from_input():
    h = History("approval_workflow", {"timeoutHours": 2})
    h.task_scheduled(0, "SendApprovalRequest").episode(timedelta(0)).task_completed(0, {})
    state = run_orchestrator("approval_workflow", h)
    assert actions(state)[1]["compoundActions"][1]["fireAt"] == ts(START + timedelta(hours=2))


@pytest.mark.parametrize("encode", [lambda d: d, json.dumps], ids=["dict-payload", "json-text-payload"])
def test_approval_cancels_timer_and_processes_approval(encode):
    h = (
        waiting_history()
        .episode()
        .event_raised("ApprovalResponse", encode({"approved": True, "approver": "ann"}))
    )
    state = run_orchestrator("approval_workflow", h)
    race, process = actions(state)[1], actions(state)[2]
    assert race["compoundActions"][1]["isCanceled"] is True
    assert process["functionName"] == "ProcessApproval"
    assert json.loads(process["input"])["approver"] == "ann"

    h.task_scheduled(2, "ProcessApproval").episode().task_completed(2, {})
    state = run_orchestrator("approval_workflow", h)
    assert state["isDone"] is True
    assert state["output"] == {"status": "approved", "approved": True, "approver": "ann"}


def test_rejection_processes_rejection():
    h = (
        waiting_history()
        .episode()
        .event_raised("ApprovalResponse", {"approved": False, "approver": "bob", "comment": "too pricey"})
    )
    state = run_orchestrator("approval_workflow", h)
    assert actions(state)[2]["functionName"] == "ProcessRejection"
    h.task_scheduled(2, "ProcessRejection").episode().task_completed(2, {})
    assert run_orchestrator("approval_workflow", h)["output"] == {
        "status": "rejected",
        "approved": False,
        "approver": "bob",
    }


def test_timer_wins_notifies_timeout():
    h = waiting_history().episode(timedelta(hours=72)).timer_fired(1, DEADLINE)
    state = run_orchestrator("approval_workflow", h)
    notify = actions(state)[2]
    assert notify["functionName"] == "NotifyTimeout"
    assert json.loads(notify["input"])["idempotencyKey"] == "appr-1:approval-timeout"
    h.task_scheduled(2, "NotifyTimeout").episode().task_completed(2, {})
    state = run_orchestrator("approval_workflow", h)
    assert state["output"] == {"status": "timeout", "approved": False}


def test_invalid_payload_is_ignored_and_the_same_deadline_still_applies():
    h = waiting_history().episode().event_raised("ApprovalResponse", {"approved": "yes"})
    state = run_orchestrator("approval_workflow", h)
    assert state["isDone"] is False
    new = actions(state)[2:]
    assert new == [
        {
            "actionType": 11,
            "compoundActions": [
                {"actionType": 6, "externalEventName": "ApprovalResponse", "reason": "ExternalEvent"}
            ],
        }
    ]
    h.episode().event_raised("ApprovalResponse", {"approved": True, "approver": "cy"})
    state = run_orchestrator("approval_workflow", h)
    assert actions(state)[-1]["functionName"] == "ProcessApproval"
    assert actions(state)[1]["compoundActions"][1]["isCanceled"] is True
