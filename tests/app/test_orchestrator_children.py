"""PaymentOrchestrator, FulfillmentOrchestrator and main_orchestrator through the SDK replay."""

from __future__ import annotations

import json

from tests.app.harness import actions, flat, run_orchestrator
from tests.app.history import History

ADDRESS = {"name": "Ann", "line1": "1 Main St", "city": "X", "postalCode": "1", "country": "US"}
PAYMENT_IN = {
    "orderId": "ord-1",
    "amountCents": 2250,
    "currency": "USD",
    "paymentMethod": {"cardNumber": "4000000000009995"},
}
FULFIL_IN = {"orderId": "ord-1", "lines": [{"sku": "SKU-1", "quantity": 2}], "shippingAddress": ADDRESS}


def test_payment_charges_with_retry_and_idempotency_key():
    state = run_orchestrator(
        "PaymentOrchestrator", History("PaymentOrchestrator", PAYMENT_IN, instance_id="ord-1:payment")
    )
    (call,) = flat(state)
    assert call["actionType"] == 1 and call["functionName"] == "ChargePayment"
    assert call["retryOptions"]["backoffCoefficient"] == 2.0
    payload = json.loads(call["input"])
    assert payload["idempotencyKey"] == "ord-1:payment:charge"
    assert payload["cardNumber"] == "4000000000009995"


def test_payment_success_and_failure_results():
    h = History("PaymentOrchestrator", PAYMENT_IN, instance_id="p").task_scheduled(0, "ChargePayment")
    h.episode().task_completed(0, {"status": "success", "paymentId": "pay_1", "amountCents": 2250})
    out = run_orchestrator("PaymentOrchestrator", h)["output"]
    assert out["status"] == "success" and out["paymentId"] == "pay_1" and out["chargeKey"] == "p:charge"

    h = History("PaymentOrchestrator", PAYMENT_IN, instance_id="p").task_scheduled(0, "ChargePayment")
    h.episode().task_failed(0, "Activity function 'ChargePayment' failed:  PaymentProcessingError: x")
    h.timer_created(1, h.now).episode().timer_fired(1, h.now)
    h.task_scheduled(2, "ChargePayment").episode().task_failed(2, "r2")
    h.timer_created(3, h.now).episode().timer_fired(3, h.now)
    h.task_scheduled(4, "ChargePayment").episode().task_failed(4, "r3 final")
    h.timer_created(5, h.now).episode().timer_fired(5, h.now)
    out = run_orchestrator("PaymentOrchestrator", h)["output"]
    assert out == {"status": "failed", "paymentId": None, "chargeKey": "p:charge", "reason": "r3 final"}


def test_fulfillment_commits_then_ships():
    h = History("FulfillmentOrchestrator", FULFIL_IN, instance_id="ord-1:fulfillment")
    state = run_orchestrator("FulfillmentOrchestrator", h)
    (commit,) = flat(state)
    assert (commit["actionType"], commit["instanceId"], commit["operation"]) == (
        7,
        "@inventoryentity@SKU-1",
        "commit",
    )
    # Without a holder in the input, the stock held by the order id is committed.
    assert json.loads(commit["input"]) == {"order": "ord-1", "run": None}
    h.event_sent(0, "@inventoryentity@SKU-1", "commit").episode().entity_response(
        0, {"committed": 2, "quantity": 3}
    )
    state = run_orchestrator("FulfillmentOrchestrator", h)
    ship = flat(state)[-1]
    assert ship["functionName"] == "CreateShipment"
    assert json.loads(ship["input"])["idempotencyKey"] == "ord-1:fulfillment:shipment"
    h.task_scheduled(1, "CreateShipment").episode().task_completed(
        1, {"shipmentId": "s", "trackingNumber": "SBX9", "carrier": "c"}
    )
    out = run_orchestrator("FulfillmentOrchestrator", h)["output"]
    assert out["status"] == "success" and out["trackingNumber"] == "SBX9"
    assert out["committed"] == [{"sku": "SKU-1", "quantity": 2}]


def test_fulfillment_commits_only_what_the_holder_holds():
    h = History("FulfillmentOrchestrator", FULFIL_IN).event_sent(0, "@inventoryentity@SKU-1", "commit")
    h.episode().entity_response(0, {"committed": 0, "quantity": 3})  # nothing held: nothing shipped
    out = run_orchestrator("FulfillmentOrchestrator", h)["output"]
    assert out["status"] == "failed" and out["reason"] == "commit_failed" and out["committed"] == []


def test_fulfillment_commit_error_reports_nothing_committed():
    h = History("FulfillmentOrchestrator", FULFIL_IN).event_sent(0, "@inventoryentity@SKU-1", "commit")
    h.episode().entity_response(0, "commit: cannot commit 2, only 0 reserved", error=True)
    out = run_orchestrator("FulfillmentOrchestrator", h)["output"]
    assert out["status"] == "failed" and out["reason"] == "commit_failed" and out["committed"] == []


def test_main_orchestrator_runs_payment_then_fulfillment_children():
    order = {
        "orderId": "ord-9",
        "customerId": "c",
        "currency": "USD",
        "items": [{"id": "1", "productId": "SKU-1", "quantity": 2, "unitPriceCents": 100}],
        "paymentMethod": {"cardNumber": "4242424242424242"},
        "shippingAddress": ADDRESS,
    }
    h = History("main_orchestrator", order, instance_id="m-1")
    (pay,) = actions(run_orchestrator("main_orchestrator", h))
    assert (pay["functionName"], pay["instanceId"]) == ("PaymentOrchestrator", "m-1:payment")
    h.sub_created(0, "PaymentOrchestrator", "m-1:payment").episode().sub_completed(
        0, {"status": "success", "paymentId": "pay_9"}
    )
    ful = actions(run_orchestrator("main_orchestrator", h))[-1]
    assert (ful["functionName"], ful["instanceId"]) == ("FulfillmentOrchestrator", "m-1:fulfillment")
    assert json.loads(ful["input"])["reserveFirst"] is True
    h.sub_created(1, "FulfillmentOrchestrator", "m-1:fulfillment").episode().sub_completed(
        1, {"status": "success", "trackingNumber": "SBX2"}
    )
    assert run_orchestrator("main_orchestrator", h)["output"] == {
        "status": "completed",
        "paymentId": "pay_9",
        "trackingNumber": "SBX2",
    }


def test_main_orchestrator_stops_when_payment_fails():
    order = {
        "orderId": "ord-9",
        "customerId": "c",
        "currency": "USD",
        "items": [{"id": "1", "productId": "SKU-1", "quantity": 2, "unitPriceCents": 100}],
        "paymentMethod": {"cardNumber": "4000000000000002"},
        "shippingAddress": ADDRESS,
    }
    h = History("main_orchestrator", order, instance_id="m-1").sub_created(
        0, "PaymentOrchestrator", "m-1:payment"
    )
    h.episode().sub_completed(0, {"status": "declined", "paymentId": None, "reason": "card_declined"})
    state = run_orchestrator("main_orchestrator", h)
    assert state["output"] == {"status": "payment_failed", "reason": "card_declined"}
    assert len(actions(state)) == 1


def test_main_orchestrator_names_each_invalid_field_as_the_routes_do():
    out = run_orchestrator("main_orchestrator", History("main_orchestrator", {}, instance_id="m-bad"))["output"]
    assert out["status"] == "invalid_input"
    assert {f["field"] for f in out["fields"]} == {
        "orderId", "customerId", "currency", "items", "paymentMethod", "shippingAddress"
    }
    assert all(f["message"] for f in out["fields"])


def test_payment_invalid_input_reason_names_the_field():
    h = History("PaymentOrchestrator", {**PAYMENT_IN, "amountCents": 0}, instance_id="p-bad")
    out = run_orchestrator("PaymentOrchestrator", h)["output"]
    assert out["status"] == "failed" and out["reason"].startswith("invalid_input: amountCents: ")
