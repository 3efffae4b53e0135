"""OrderSaga through the SDK replay: reservation, approval, payment, fulfillment, compensation."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.app.harness import actions, flat, run_orchestrator
from tests.app.history import History

ORDER = {
    "orderId": "ord-1",
    "customerId": "cust-1",
    "currency": "USD",
    "items": [
        {"id": "1", "productId": "SKU-1", "quantity": 2, "unitPriceCents": 500},
        {"id": "2", "productId": "SKU-2", "quantity": 1, "unitPriceCents": 1250},
    ],
    "paymentMethod": {"cardNumber": "4242424242424242"},
    "shippingAddress": {
        "name": "Ann",
        "line1": "1 Main St",
        "city": "Springfield",
        "postalCode": "12345",
        "country": "US",
    },
}
TOTAL = 2250


def saga_input(threshold: int = 100000) -> dict:
    return {"order": ORDER, "approvalThresholdCents": threshold, "approvalTimeoutHours": 72}


def reserved(threshold: int = 100000, answers: tuple = (True, True)) -> History:
    h = History("OrderSaga", saga_input(threshold), instance_id="ord-1")
    h.event_sent(0, "@inventoryentity@SKU-1", "reserve").event_sent(1, "@inventoryentity@SKU-2", "reserve")
    h.episode()
    for event_id, answer in enumerate(answers):
        h.entity_response(event_id, answer)
    return h


def run(h: History) -> dict:
    return run_orchestrator("OrderSaga", h)


RUN = "<run>"


def _normalized(payload):
    """Owned claims carry the run (a deterministic guid per run); tests compare it as ``RUN``."""
    if isinstance(payload, dict) and payload.get("run"):
        return {**payload, "run": RUN}
    return payload


def entity_ops(state: dict) -> list[tuple[str, str, object]]:
    return [
        (a["instanceId"], a["operation"], _normalized(json.loads(a["input"])))
        for a in flat(state)
        if a["actionType"] == 7
    ]


def last_call(state: dict) -> dict:
    """The last activity / sub-orchestration call (event waits and timers skipped)."""
    return [a for a in flat(state) if a.get("functionName")][-1]


def held(line: str, quantity: int) -> dict:
    return {"order": "ord-1", "run": RUN, "line": line, "quantity": quantity}


RELEASE = {"order": "ord-1", "run": RUN}
RELEASE_ALL = [("@inventoryentity@SKU-1", "release", RELEASE), ("@inventoryentity@SKU-2", "release", RELEASE)]


def paid(h: History, payment_id: int, result: dict) -> History:
    return (
        h.sub_created(payment_id, "PaymentOrchestrator", "ord-1:payment")
        .episode()
        .sub_completed(payment_id, result)
    )


PAYMENT_OK = {"status": "success", "paymentId": "pay_1", "chargeKey": "ord-1:payment:charge"}


def test_first_episode_reserves_every_line_in_parallel():
    state = run(History("OrderSaga", saga_input(), instance_id="ord-1"))
    (when_all,) = actions(state)
    assert when_all["actionType"] == 12
    assert entity_ops(state) == [
        ("@inventoryentity@SKU-1", "reserve", held("1", 2)),
        ("@inventoryentity@SKU-2", "reserve", held("2", 1)),
    ]
    assert state["customStatus"] == {"step": "reserving", "totalCents": TOTAL}


def test_happy_path_charges_fulfils_and_completes():
    h = reserved()
    state = run(h)
    # The payment races the CancelOrder event (WhenAny: sub-orchestration, event wait).
    race = actions(state)[-1]
    assert race["actionType"] == 11
    payment, cancel_wait = race["compoundActions"]
    assert cancel_wait["actionType"] == 6 and cancel_wait["externalEventName"] == "CancelOrder"
    assert payment["actionType"] == 2
    assert payment["functionName"] == "PaymentOrchestrator"
    assert payment["instanceId"] == "ord-1:payment"
    assert json.loads(payment["input"]) == {
        "orderId": "ord-1",
        "amountCents": TOTAL,
        "currency": "USD",
        "paymentMethod": {
            "cardNumber": "4242424242424242",
            "cardholderName": None,
            "expiryMonth": None,
            "expiryYear": None,
        },
    }
    assert state["customStatus"] == {"step": "charging", "totalCents": TOTAL}

    state = run(paid(h, 2, PAYMENT_OK))
    fulfil = last_call(state)
    assert (fulfil["functionName"], fulfil["instanceId"]) == ("FulfillmentOrchestrator", "ord-1:fulfillment")
    fulfil_input = json.loads(fulfil["input"])
    assert fulfil_input["lines"] == [
        {"sku": "SKU-1", "quantity": 2},
        {"sku": "SKU-2", "quantity": 1},
    ]
    assert fulfil_input["holder"] == "ord-1" and fulfil_input["run"]
    assert state["customStatus"] == {"step": "fulfilling", "paymentId": "pay_1"}

    h.sub_created(3, "FulfillmentOrchestrator", "ord-1:fulfillment").episode()
    h.sub_completed(3, {"status": "success", "trackingNumber": "SBX1", "committed": []})
    state = run(h)
    assert state["isDone"] is True
    assert state["output"] == {
        "orderId": "ord-1",
        "status": "completed",
        "totalCents": TOTAL,
        "paymentId": "pay_1",
        "trackingNumber": "SBX1",
        "reason": None,
    }
    assert state["customStatus"] == {"step": "completed"}


def test_inventory_shortage_releases_what_was_reserved_and_rejects():
    h = reserved(answers=(True, False))
    state = run(h)
    # Releasing is idempotent and owned: every SKU of the order is released, held or not.
    assert entity_ops(state)[2:] == RELEASE_ALL
    assert state["customStatus"]["step"] == "compensating"
    h.event_sent(2, "@inventoryentity@SKU-1", "release").event_sent(3, "@inventoryentity@SKU-2", "release")
    h.episode().entity_response(2, {"released": 2}).entity_response(3, {"released": 0})
    state = run(h)
    assert state["isDone"] is True
    assert state["output"]["status"] == "rejected"
    assert state["output"]["reason"] == "insufficient_inventory"
    assert not [a for a in flat(state) if a["actionType"] in (0, 1, 2)]


def test_reservation_error_is_treated_like_a_shortage():
    h = History("OrderSaga", saga_input(), instance_id="ord-1")
    h.event_sent(0, "@inventoryentity@SKU-1", "reserve").event_sent(1, "@inventoryentity@SKU-2", "reserve")
    h.episode().entity_response(0, "boom", error=True).entity_response(1, True)
    state = run(h)
    assert entity_ops(state)[2:] == RELEASE_ALL


def approval_pending(h: History) -> History:
    h.task_scheduled(2, "SendApprovalRequest").episode().task_completed(2, {})
    return h.timer_created(3, h.now + timedelta(hours=72))


def test_large_order_waits_for_approval_then_charges():
    h = reserved(threshold=1000)
    state = run(h)
    send = actions(state)[-1]
    assert send["functionName"] == "SendApprovalRequest"
    assert json.loads(send["input"])["idempotencyKey"] == "ord-1:SendApprovalRequest"
    assert state["customStatus"] == {"step": "awaiting_approval", "totalCents": TOTAL, "thresholdCents": 1000}

    approval_pending(h)
    state = run(h)
    assert actions(state)[-1]["actionType"] == 11
    h.episode().event_raised("ApprovalResponse", json.dumps({"approved": True, "approver": "boss"}))
    state = run(h)
    assert flat(state)[-1]["functionName"] == "ProcessApproval"
    h.task_scheduled(4, "ProcessApproval").episode().task_completed(4, {})
    state = run(h)
    assert last_call(state)["functionName"] == "PaymentOrchestrator"


def test_rejected_approval_releases_stock():
    h = approval_pending(reserved(threshold=1000)).episode()
    h.event_raised("ApprovalResponse", {"approved": False, "approver": "boss"})
    h.task_scheduled(4, "ProcessRejection").episode().task_completed(4, {})
    state = run(h)
    assert entity_ops(state)[2:] == RELEASE_ALL
    h.event_sent(5, "@inventoryentity@SKU-1", "release").event_sent(6, "@inventoryentity@SKU-2", "release")
    h.episode().entity_response(5, {}).entity_response(6, {})
    state = run(h)
    assert state["output"]["status"] == "rejected" and state["output"]["reason"] == "approval_rejected"


def test_approval_timeout_notifies_and_releases_stock():
    h = approval_pending(reserved(threshold=1000))
    h.episode(timedelta(hours=72)).timer_fired(3, h.now)
    state = run(h)
    assert actions(state)[-1]["functionName"] == "NotifyTimeout"
    h.task_scheduled(4, "NotifyTimeout").episode().task_completed(4, {})
    state = run(h)
    assert [op for _, op, _ in entity_ops(state)[2:]] == ["release", "release"]
    h.event_sent(5, "@inventoryentity@SKU-1", "release").event_sent(6, "@inventoryentity@SKU-2", "release")
    h.episode().entity_response(5, {}).entity_response(6, {})
    state = run(h)
    assert state["output"]["status"] == "timeout"
    assert state["customStatus"] == {"step": "timeout", "reason": "approval_timeout"}


def test_payment_failure_refunds_by_charge_key_and_releases_stock():
    h = paid(reserved(), 2, {"status": "failed", "paymentId": None, "reason": "gateway down"})
    state = run(h)
    refund = actions(state)[-1]
    assert refund["actionType"] == 12
    (call,) = refund["compoundActions"]
    assert call["actionType"] == 1 and call["functionName"] == "RefundPayment"
    assert json.loads(call["input"])["chargeKey"] == "ord-1:payment:charge"
    assert state["customStatus"] == {"step": "compensating", "reason": "payment_failed"}

    h.task_scheduled(3, "RefundPayment").episode().task_completed(3, {"status": "nothing_to_refund"})
    state = run(h)
    assert [op for _, op, _ in entity_ops(state)[2:]] == ["release", "release"]
    h.event_sent(4, "@inventoryentity@SKU-1", "release").event_sent(5, "@inventoryentity@SKU-2", "release")
    h.episode().entity_response(4, {}).entity_response(5, {})
    state = run(h)
    assert state["output"]["status"] == "failed" and state["output"]["reason"] == "payment_failed"


def test_declined_payment_skips_refund():
    h = paid(reserved(), 2, {"status": "declined", "paymentId": None, "reason": "card_declined"})
    state = run(h)
    assert [op for _, op, _ in entity_ops(state)[2:]] == ["release", "release"]
    assert not [a for a in flat(state) if a.get("functionName") == "RefundPayment"]


def test_payment_sub_orchestration_crash_is_compensated():
    h = reserved().sub_created(2, "PaymentOrchestrator", "ord-1:payment").episode()
    h.sub_failed(2, "Orchestrator function 'PaymentOrchestrator' failed: boom")
    state = run(h)
    assert flat(state)[-1]["functionName"] == "RefundPayment"


def test_fulfillment_failure_refunds_restocks_committed_and_releases_the_rest():
    h = paid(reserved(), 2, PAYMENT_OK)
    h.sub_created(3, "FulfillmentOrchestrator", "ord-1:fulfillment").episode()
    h.sub_completed(
        3, {"status": "failed", "reason": "shipment_failed", "committed": [{"sku": "SKU-1", "quantity": 2}]}
    )
    state = run(h)
    assert flat(state)[-1]["functionName"] == "RefundPayment"
    h.task_scheduled(4, "RefundPayment").episode().task_completed(4, {"status": "refunded"})
    state = run(h)
    assert entity_ops(state)[2:] == RELEASE_ALL
    h.event_sent(5, "@inventoryentity@SKU-1", "release").event_sent(6, "@inventoryentity@SKU-2", "release")
    h.episode().entity_response(5, {}).entity_response(6, {})
    state = run(h)
    assert entity_ops(state)[4:] == [("@inventoryentity@SKU-1", "add", 2)]
    h.event_sent(7, "@inventoryentity@SKU-1", "add").episode().entity_response(7, {})
    state = run(h)
    assert state["output"]["status"] == "failed"
    assert state["output"]["reason"] == "fulfillment_failed"


def test_invalid_input_fails_without_side_effects():
    state = run(History("OrderSaga", {"order": {"orderId": "x"}}, instance_id="x"))
    assert state["isDone"] is True
    assert state["output"]["status"] == "failed"
    assert state["output"]["reason"].startswith("invalid_input")
    assert actions(state) == []
