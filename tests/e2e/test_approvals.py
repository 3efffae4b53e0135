"""The order's approval step and the inventory entity, through the ``durable_host`` fixture.

Plain (sync) tests, written as a user of the pytest plugin writes them; ``on_backend`` runs
each on every store backend (memory, SQLite, and Azurite when DURABLE_STORE_BACKENDS names it).
"""

from __future__ import annotations

from typing import Any

import pytest

from durable_local.testing.client import DurableHostClient
from tests.e2e.conftest import make_order, unique

WEBHOOK = "/runtime/webhooks/durabletask"
LARGE = 90_000  # cents per unit: two units are above the approval threshold


def stock(host: DurableHostClient, sku: str, quantity: int) -> None:
    assert host.post(f"/api/inventory/{sku}", json={"quantity": quantity}).status == 202
    host.wait_until(lambda: inventory_of(host, sku), what=f"stock for {sku}")


def inventory_of(host: DurableHostClient, sku: str) -> dict[str, Any] | None:
    r = host.get(f"/api/inventory/{sku}")
    return r.body if r.status == 200 else None


def place_large_order(host: DurableHostClient, sku: str) -> str:
    """An order above the threshold, left waiting for approval (its 72-hour timer exists)."""
    order_id = unique("order")
    assert host.start_http("/api/orders", json=make_order(order_id, [(sku, 2, LARGE)])) == order_id
    host.wait_for_history(order_id, "TimerCreated")
    status = host.status(order_id)
    assert status is not None and status["customStatus"]["step"] == "awaiting_approval", status
    return order_id


def test_large_order_waits_for_approval_then_completes(on_backend: str, durable_host: DurableHostClient) -> None:
    sku = unique("SKU-APPR").upper()
    stock(durable_host, sku, 10)
    order_id = place_large_order(durable_host, sku)
    assert durable_host.status(order_id)["runtimeStatus"] == "Running"  # type: ignore[index]
    assert inventory_of(durable_host, sku)["reserved"] == 2  # type: ignore[index]
    r = durable_host.post(f"/api/orders/{order_id}/approval", json={"approved": True, "approver": "manager"})
    assert r.status == 202
    status = durable_host.wait_for(order_id)
    assert status["runtimeStatus"] == "Completed", status.get("output")
    assert status["output"]["status"] == "completed"
    assert inventory_of(durable_host, sku) == {"sku": sku, "quantity": 8, "reserved": 0, "available": 8, "holders": {}}
    r = durable_host.post(f"/api/orders/{order_id}/approval", json={"approved": True, "approver": "manager"})
    assert r.status == 410


def test_rejected_approval_releases_stock(on_backend: str, durable_host: DurableHostClient) -> None:
    sku = unique("SKU-REJ").upper()
    stock(durable_host, sku, 10)
    order_id = place_large_order(durable_host, sku)
    # the Durable HTTP API's raiseEvent, as the app's approval route does
    durable_host.raise_event(order_id, "ApprovalResponse", {"approved": False, "approver": "manager", "comment": "no"})
    status = durable_host.wait_for(order_id, "Completed")
    assert status["output"]["status"] == "rejected"
    assert status["output"]["reason"] == "approval_rejected"
    released = {"sku": sku, "quantity": 10, "reserved": 0, "available": 10, "holders": {}}
    assert inventory_of(durable_host, sku) == released
    raised = [e["Name"] for e in durable_host.history(order_id) if e["EventType"] == "EventRaised"]
    assert raised.count("ApprovalResponse") == 1, raised  # (entity responses arrive as events too)


def test_approval_times_out_after_72_virtual_hours(on_backend: str, durable_host: DurableHostClient) -> None:
    sku = unique("SKU-TMO").upper()
    stock(durable_host, sku, 10)
    order_id = place_large_order(durable_host, sku)
    durable_host.clock.advance(hours=71)
    assert durable_host.status(order_id)["runtimeStatus"] == "Running"  # type: ignore[index]
    durable_host.clock.advance(hours=1, seconds=1)
    status = durable_host.wait_for(order_id)
    assert status["output"]["status"] == "timeout"
    assert inventory_of(durable_host, sku)["reserved"] == 0  # type: ignore[index]


def test_entity_add_and_read(on_backend: str, durable_host: DurableHostClient) -> None:
    sku = unique("SKU-ENT").upper()
    assert durable_host.get(f"/api/inventory/{sku}").status == 404
    assert durable_host.entity("InventoryEntity", sku) is None
    stock(durable_host, sku, 4)
    durable_host.post(f"/api/inventory/{sku}", json={"quantity": 6})
    durable_host.wait_until(lambda: (inventory_of(durable_host, sku) or {}).get("quantity") == 10, what="second add")
    assert durable_host.entity("InventoryEntity", sku) == {"quantity": 10, "reserved": 0}
    assert durable_host.get(f"{WEBHOOK}/entities/InventoryEntity/{sku}").body == {"quantity": 10, "reserved": 0}


def test_an_invalid_approval_through_the_durable_api_is_recorded_and_the_order_keeps_waiting(
    on_backend: str, durable_host: DurableHostClient
) -> None:
    sku = unique("SKU-INV").upper()
    stock(durable_host, sku, 10)
    order_id = place_large_order(durable_host, sku)
    # the app's route refuses the body (400 naming the field) ...
    r = durable_host.post(f"/api/orders/{order_id}/approval", json={"approved": "yes", "approver": "ops"})
    assert r.status == 400 and r.body["fields"][0]["field"] == "approved"
    # ... the raw Durable API delivers it: the saga records it in its custom status and keeps waiting
    durable_host.raise_event(order_id, "ApprovalResponse", {"approved": "yes"})

    def recorded() -> dict[str, Any] | None:
        status = durable_host.status(order_id)
        return status if status and "invalidApproval" in (status.get("customStatus") or {}) else None

    status = durable_host.wait_until(recorded, what="invalidApproval in the custom status")
    assert status["runtimeStatus"] == "Running"
    assert {f["field"] for f in status["customStatus"]["invalidApproval"]["fields"]} == {"approved", "approver"}
    r = durable_host.post(f"/api/orders/{order_id}/approval", json={"approved": True, "approver": "ops"})
    assert r.status == 202
    assert durable_host.wait_for(order_id)["output"]["status"] == "completed"


@pytest.mark.durable_host(store="sqlite")
def test_a_waiting_order_survives_a_host_restart(durable_host: DurableHostClient) -> None:
    # SQLite: on Azure Storage a restarted host sees the timer only when its queue message
    # becomes visible in real time, so the virtual clock cannot move it (docs/TESTING.md)
    sku = unique("SKU-RST").upper()
    stock(durable_host, sku, 10)
    order_id = place_large_order(durable_host, sku)
    durable_host.clock.advance(hours=71)
    before = durable_host.harness.host
    durable_host.restart()  # a deploy: the 72-hour timer and the reservation live in the store
    assert durable_host.harness.host is not before and before.store is not durable_host.harness.store
    assert durable_host.status(order_id)["runtimeStatus"] == "Running"  # type: ignore[index]
    durable_host.clock.advance(hours=1, seconds=1)
    assert durable_host.wait_for(order_id)["output"]["status"] == "timeout"
    assert inventory_of(durable_host, sku)["reserved"] == 0  # type: ignore[index]


def test_restart_needs_a_store_that_outlives_the_host(durable_host: DurableHostClient) -> None:
    with pytest.raises(ValueError, match="store='sqlite'"):
        durable_host.restart()
    assert durable_host.get("/api/inventory/SKU-NOTHING").status == 404  # the host still serves
