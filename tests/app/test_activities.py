"""Activities against the local sandboxes (SQLite under a per-test SANDBOX_DATA_DIR)."""

from __future__ import annotations

import json

import pytest

from activities.adapters import AdapterConfigurationError, PaymentProcessingError, TransientGatewayError
from activities.sandbox_store import SandboxStore
from activities.validation import ActivityInputError
from tests.app.harness import user_function

ADDRESS = {"name": "Ann", "line1": "1 Main St", "city": "X", "postalCode": "1", "country": "US"}


def call(name: str, payload):
    return user_function(name)(payload=payload)


def charge(card: str, key: str = "ord-1:payment:charge") -> dict:
    return call(
        "ChargePayment",
        {
            "idempotencyKey": key,
            "orderId": "ord-1",
            "amountCents": 2250,
            "currency": "USD",
            "cardNumber": card,
        },
    )


def test_process_item_prices_the_line_and_validates_input():
    item = {"id": "1", "productId": "SKU-1", "quantity": 3, "unitPriceCents": 199}
    assert call("ProcessItem", item) == {
        "itemId": "1",
        "productId": "SKU-1",
        "quantity": 3,
        "amountCents": 597,
        "status": "processed",
    }
    with pytest.raises(ActivityInputError, match="unitPriceCents"):
        call("ProcessItem", {**item, "unitPriceCents": 1.5})


def test_successful_charge_is_idempotent(sandbox_dir):
    first = charge("4242424242424242")
    second = charge("4242424242424242")
    assert first == second
    assert first["status"] == "success" and first["paymentId"].startswith("pay_")
    assert len(SandboxStore(sandbox_dir).query("SELECT * FROM payments")) == 1


def test_decline_is_a_result_not_an_error():
    result = charge("4000000000000002")
    assert result["status"] == "declined" and result["reason"] == "card_declined"
    assert result["paymentId"] is None


def test_transient_card_fails_twice_then_succeeds():
    for _ in range(2):
        with pytest.raises(TransientGatewayError):
            charge("4000000000009995")
    assert charge("4000000000009995")["status"] == "success"


def test_processing_error_card_always_fails(sandbox_dir):
    for _ in range(3):
        with pytest.raises(PaymentProcessingError):
            charge("4000000000000119")
    assert SandboxStore(sandbox_dir).query("SELECT * FROM payments") == []


def test_refund_is_idempotent_and_noop_without_capture():
    assert (
        call("RefundPayment", {"idempotencyKey": "r-0", "chargeKey": "nothing"})["status"]
        == "nothing_to_refund"
    )
    paid = charge("4242424242424242")
    refund = {"idempotencyKey": "ord-1:refund", "chargeKey": "ord-1:payment:charge"}
    first, second = call("RefundPayment", refund), call("RefundPayment", refund)
    assert first == second
    assert first["status"] == "refunded" and first["paymentId"] == paid["paymentId"]
    assert call("RefundPayment", {**refund, "idempotencyKey": "other"})["status"] == "nothing_to_refund"


def test_shipment_tracking_number_is_deterministic_and_idempotent(sandbox_dir):
    request = {
        "idempotencyKey": "ord-1:fulfillment:shipment",
        "orderId": "ord-1",
        "address": ADDRESS,
        "lines": [{"sku": "SKU-1", "quantity": 2}],
    }
    first, second = call("CreateShipment", request), call("CreateShipment", json.dumps(request))
    assert first == second and first["trackingNumber"].startswith("SBX")
    assert len(SandboxStore(sandbox_dir).query("SELECT * FROM shipments")) == 1


def test_notifications_go_to_the_outbox_once_per_key(sandbox_dir):
    payload = {"idempotencyKey": "a-1:approval-request", "requestId": "a-1", "details": {"x": 1}}
    for name in ("SendApprovalRequest", "SendApprovalRequest"):
        call(name, payload)
    call("NotifyTimeout", {**payload, "idempotencyKey": "a-1:timeout"})
    rows = SandboxStore(sandbox_dir).query("SELECT kind, payload FROM outbox ORDER BY kind")
    assert [r["kind"] for r in rows] == ["approval_request", "approval_timeout"]
    assert json.loads(rows[0]["payload"])["requestId"] == "a-1"
    with pytest.raises(ActivityInputError, match="idempotencyKey"):
        call("ProcessApproval", {"requestId": "a-1"})


def test_unreliable_activity_fails_first_n_attempts_per_key():
    request = {"key": "rb-1:unreliable", "failTimes": 2, "payload": {"x": 1}}
    for _ in range(2):
        with pytest.raises(RuntimeError, match="simulated failure"):
            call("UnreliableActivity", request)
    assert call("UnreliableActivity", request) == {
        "key": "rb-1:unreliable",
        "attempt": 3,
        "payload": {"x": 1},
    }
    assert call("UnreliableActivity", {"key": "other"})["attempt"] == 1


def test_finalize_order_records_once_and_checks_the_total():
    results = [{"itemId": "1", "productId": "SKU-1", "quantity": 1, "amountCents": 100}]
    request = {"idempotencyKey": "o:finalize", "orderId": "o", "totalCents": 100, "itemResults": results}
    assert call("FinalizeOrder", request) == call("FinalizeOrder", request)
    with pytest.raises(ActivityInputError, match="totalCents"):
        call("FinalizeOrder", {**request, "idempotencyKey": "o:f2", "totalCents": 99})


def test_unknown_adapter_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PAYMENT_ADAPTER", "stripe")
    with pytest.raises(AdapterConfigurationError, match="PAYMENT_ADAPTER"):
        charge("4242424242424242")
