"""HTTP routes called directly with func.HttpRequest and a durable client bound to an RPC stub."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from tests.app.harness import user_function
from tests.app.rpc_stub import status_payload

ORDER = {
    "orderId": "ord-1",
    "customerId": "cust-1",
    "currency": "USD",
    "items": [{"id": "1", "productId": "SKU-1", "quantity": 2, "unitPriceCents": 500}],
    "paymentMethod": {"cardNumber": "4242424242424242"},
    "shippingAddress": {"name": "Ann", "line1": "1 Main St", "city": "X", "postalCode": "1", "country": "US"},
}


def request(
    method: str, path: str, body: Any = None, route_params: dict | None = None, raw: bytes | None = None
) -> func.HttpRequest:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return func.HttpRequest(
        method=method,
        url=f"http://localhost:7071/api/{path}",
        body=data,
        headers={"Content-Type": "application/json"},
        route_params=route_params or {},
    )


async def call(name: str, req: func.HttpRequest, rpc) -> tuple[int, Any, func.HttpResponse]:
    response = await user_function(name)(req=req, client=rpc.binding)
    body = response.get_body()
    return response.status_code, (json.loads(body) if body else None), response


def started(rpc, instance_id: str, name: str = "OrderSaga") -> None:
    rpc.on("POST", f"orchestrators/{name}/{instance_id}", 202, {"id": instance_id})


async def test_post_order_starts_saga_with_order_id_and_settings(rpc, monkeypatch):
    monkeypatch.setenv("APPROVAL_THRESHOLD_CENTS", "5000")
    monkeypatch.setenv("APPROVAL_TIMEOUT_HOURS", "24")
    started(rpc, "ord-1")
    status, body, response = await call("start_order", request("POST", "orders", ORDER), rpc)
    assert status == 202
    assert body["id"] == "ord-1"
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert body["statusQueryGetUri"].startswith(
        "http://localhost:7071/runtime/webhooks/durabletask/instances/ord-1"
    )
    start = next(r for r in rpc.requests if r.method == "POST")
    assert start.path == "orchestrators/OrderSaga/ord-1"
    saga_input = json.loads(start.body)  # the SDK sends the input as JSON text in a JSON string
    assert saga_input["approvalThresholdCents"] == 5000
    assert saga_input["approvalTimeoutHours"] == 24
    assert saga_input["order"]["orderId"] == "ord-1"


async def test_validation_errors_name_each_bad_field(rpc):
    bad = {**ORDER, "currency": "usd", "items": [{**ORDER["items"][0], "quantity": 0, "unitPriceCents": 1.5}]}
    status, body, _ = await call("start_order", request("POST", "orders", bad), rpc)
    assert status == 400
    assert body["error"] == "validation_error"
    assert {f["field"] for f in body["fields"]} == {"currency", "items.0.quantity", "items.0.unitPriceCents"}
    assert rpc.requests == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, NaN]"])
async def test_invalid_json_is_400(rpc, raw):
    status, body, _ = await call("start_order", request("POST", "orders", raw=raw), rpc)
    assert status == 400 and body["error"] == "invalid_json"


async def test_oversized_body_is_413(rpc):
    status, body, _ = await call("start_order", request("POST", "orders", raw=b" " * (64 * 1024 + 1)), rpc)
    assert status == 413 and body["error"] == "payload_too_large"


@pytest.mark.parametrize("runtime_status", ["Running", "Pending", "Suspended"])
async def test_running_order_id_is_409(rpc, runtime_status):
    rpc.on("GET", "instances/ord-1", 202, status_payload("ord-1", runtime_status))
    status, body, _ = await call("start_order", request("POST", "orders", ORDER), rpc)
    assert status == 409 and body["runtimeStatus"] == runtime_status
    assert all(r.method == "GET" for r in rpc.requests)


async def test_completed_order_id_is_409_so_a_retried_post_does_not_ship_twice(rpc):
    rpc.on("GET", "instances/ord-1", 200, status_payload("ord-1", "Completed"))
    status, body, _ = await call("start_order", request("POST", "orders", ORDER), rpc)
    assert status == 409 and body["runtimeStatus"] == "Completed"
    assert all(r.method == "GET" for r in rpc.requests)


@pytest.mark.parametrize("runtime_status", ["Failed", "Terminated"])
async def test_failed_or_terminated_order_may_be_placed_again(rpc, runtime_status):
    rpc.on("GET", "instances/ord-1", 200, status_payload("ord-1", runtime_status))
    started(rpc, "ord-1")
    status, _, _ = await call("start_order", request("POST", "orders", ORDER), rpc)
    assert status == 202


async def test_get_order_returns_status_without_input(rpc):
    rpc.on(
        "GET",
        "instances/ord-1",
        200,
        status_payload("ord-1", "Completed", output={"status": "completed"}, custom={"step": "completed"}),
    )
    status, body, _ = await call(
        "get_order", request("GET", "orders/ord-1", route_params={"orderId": "ord-1"}), rpc
    )
    assert status == 200
    assert body["runtimeStatus"] == "Completed"
    assert body["customStatus"] == {"step": "completed"}
    assert body["output"] == {"status": "completed"}
    assert "input" not in body


async def test_get_unknown_order_is_404(rpc):
    status, body, _ = await call(
        "get_order", request("GET", "orders/nope", route_params={"orderId": "nope"}), rpc
    )
    assert status == 404 and body["error"] == "not_found"


APPROVAL = {"approved": True, "approver": "boss"}


def approval_request(body: Any = APPROVAL, order_id: str = "ord-1") -> func.HttpRequest:
    return request("POST", f"orders/{order_id}/approval", body, route_params={"orderId": order_id})


async def test_approval_raises_the_event(rpc):
    rpc.on(
        "GET",
        "instances/ord-1",
        202,
        status_payload("ord-1", "Running", custom={"step": "awaiting_approval"}),
    )
    rpc.on("POST", "instances/ord-1/raiseEvent/ApprovalResponse", 202)
    status, body, _ = await call("approve_order", approval_request(), rpc)
    assert status == 202 and body["approved"] is True
    raised = rpc.requests[-1]
    assert raised.path == "instances/ord-1/raiseEvent/ApprovalResponse"
    assert json.loads(raised.body) == {"approved": True, "approver": "boss", "comment": None}


async def test_approval_with_bad_body_is_400(rpc):
    status, body, _ = await call("approve_order", approval_request({"approved": "yes"}), rpc)
    assert status == 400
    assert {f["field"] for f in body["fields"]} == {"approved", "approver"}


async def test_approval_for_unknown_order_is_404(rpc):
    status, _, _ = await call("approve_order", approval_request(), rpc)
    assert status == 404


@pytest.mark.parametrize("runtime_status", ["Completed", "Failed", "Terminated"])
async def test_approval_for_finished_order_is_410(rpc, runtime_status):
    rpc.on("GET", "instances/ord-1", 200, status_payload("ord-1", runtime_status))
    status, body, _ = await call("approve_order", approval_request(), rpc)
    assert status == 410 and body["error"] == "gone"


async def test_approval_race_with_completion_is_410(rpc):
    rpc.on("GET", "instances/ord-1", 202, status_payload("ord-1", "Running"))
    rpc.on("POST", "instances/ord-1/raiseEvent/ApprovalResponse", 410)
    status, _, _ = await call("approve_order", approval_request(), rpc)
    assert status == 410


async def test_add_inventory_signals_the_entity(rpc):
    rpc.on("POST", "entities/InventoryCatalog/all", 202)
    rpc.on("POST", "entities/InventoryEntity/SKU-1", 202)
    req = request("POST", "inventory/SKU-1", {"quantity": 5}, route_params={"sku": "SKU-1"})
    status, body, _ = await call("add_inventory", req, rpc)
    assert status == 202 and body == {"sku": "SKU-1", "operation": "add", "quantity": 5}
    signal = rpc.requests[-1]
    assert (signal.path, signal.query["op"], json.loads(signal.body)) == (
        "entities/InventoryEntity/SKU-1",
        "add",
        5,
    )
    register = rpc.requests[-2]  # the SKU is registered for the reconciler first
    assert (register.path, register.query["op"], json.loads(register.body)) == (
        "entities/InventoryCatalog/all",
        "register",
        "SKU-1",
    )


@pytest.mark.parametrize(
    ("sku", "body", "field"),
    [
        ("sku-1", {"quantity": 5}, "sku"),
        ("SKU-1", {"quantity": 0}, "quantity"),
        ("SKU-1", {"quantity": True}, "quantity"),
        ("SKU-1", {"quantity": 2.0}, "quantity"),
    ],
)
async def test_add_inventory_validation(rpc, sku, body, field):
    req = request("POST", f"inventory/{sku}", body, route_params={"sku": sku})
    status, payload, _ = await call("add_inventory", req, rpc)
    assert status == 400 and payload["fields"][0]["field"] == field
    assert rpc.requests == []


async def test_get_inventory_reads_entity_state(rpc):
    rpc.on("GET", "entities/InventoryEntity/SKU-1", 200, {"quantity": 7, "reserved": 2})
    status, body, _ = await call(
        "get_inventory", request("GET", "inventory/SKU-1", route_params={"sku": "SKU-1"}), rpc
    )
    assert status == 200 and body == {"sku": "SKU-1", "quantity": 7, "reserved": 2, "available": 5, "holders": {}}


async def test_get_unknown_inventory_is_404(rpc):
    status, _, _ = await call(
        "get_inventory", request("GET", "inventory/SKU-9", route_params={"sku": "SKU-9"}), rpc
    )
    assert status == 404


async def test_start_pattern_orchestrator_by_name(rpc):
    rpc.on("POST", "orchestrators/robust_orchestrator", 202, {"id": "abc123"})
    req = request(
        "POST",
        "orchestrators/robust_orchestrator",
        {"failTimes": 1},
        route_params={"functionName": "robust_orchestrator"},
    )
    status, body, response = await call("start_orchestrator", req, rpc)
    assert status == 202 and body["id"] == "abc123" and "Location" in response.headers
    assert json.loads(rpc.requests[-1].body) == {"failTimes": 1}


async def test_start_unknown_orchestrator_is_404_and_bad_json_400(rpc):
    req = request("POST", "orchestrators/Nope", {}, route_params={"functionName": "Nope"})
    assert (await call("start_orchestrator", req, rpc))[0] == 404
    req = request(
        "POST",
        "orchestrators/approval_workflow",
        raw=b"{",
        route_params={"functionName": "approval_workflow"},
    )
    assert (await call("start_orchestrator", req, rpc))[0] == 400


async def test_start_order_saga_by_name_validates_like_post_orders(rpc):
    req = request(
        "POST", "orchestrators/OrderSaga", {"orderId": "bad/id"}, route_params={"functionName": "OrderSaga"}
    )
    status, body, _ = await call("start_orchestrator", req, rpc)
    assert status == 400 and "orderId" in {f["field"] for f in body["fields"]}
