"""Terminate, cancel and purge an order at every step of the saga: no stock stays held.

Each test stops three orders at one step (an activity of that step blocks on a gate in the test
process, or the order waits for approval), then terminates the first, terminates and purges the
second, and cancels the third through ``POST /api/orders/{id}/cancel``. After the gate opens and
every instance is quiet, the inventory reconciler runs (``POST /api/reconciliations/inventory``):
the SKU's ``reserved`` must equal what running orders hold (nothing, then) and its stock the
initial stock minus what was shipped.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from durable_local.testing import HostHarness
from tests.e2e.conftest import inventory_of, make_order, stock, unique

WEBHOOK = "/runtime/webhooks/durabletask"
ACTIONS = ("terminate", "purge", "cancel")
QUANTITY = 2
INITIAL = 20


class Gate:
    """Makes one adapter method wait in the activity thread until the test opens the gate."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner_name: str, method: str) -> None:
        self.entered = 0
        self._lock = threading.Lock()
        self._open = threading.Event()
        # The host imported the app's modules afresh: patch the module it runs, not ours.
        owner = getattr(sys.modules["activities.adapters"], owner_name)
        original: Callable[..., Any] = getattr(owner, method)

        def gated(adapter: Any, *args: Any) -> Any:
            with self._lock:
                self.entered += 1
            self._open.wait(timeout=30)
            return original(adapter, *args)

        monkeypatch.setattr(owner, method, gated)

    def open(self) -> None:
        self._open.set()


# step -> (where its gate is, order unit price): prices above the approval threshold wait for it.
STEPS: dict[str, tuple[tuple[str, str] | None, int]] = {
    "reserved": (("OutboxNotifier", "send"), 90_000),  # SendApprovalRequest, right after reserving
    "awaiting_approval": (None, 90_000),
    "charging": (("SandboxPaymentGateway", "charge"), 100),
    "fulfilling": (("SandboxCarrier", "create_shipment"), 100),  # stock already committed
}


async def _custom_step(host: HostHarness, oid: str) -> str | None:
    status = await host.status(oid)
    return ((status or {}).get("customStatus") or {}).get("step")


async def _quiet(host: HostHarness, oid: str) -> None:
    """The order and its children are finished (or gone)."""
    for iid in (oid, f"{oid}:payment", f"{oid}:fulfillment"):
        status = await host.status(iid)
        if status is not None and status["runtimeStatus"] in ("Running", "Pending"):
            await host.wait_for(iid)


async def _shipped(host: HostHarness, oid: str) -> int:
    status = await host.status(f"{oid}:fulfillment")
    output = (status or {}).get("output") or {}
    return QUANTITY if output.get("status") == "success" else 0


async def _act(host: HostHarness, action: str, oid: str) -> None:
    if action == "cancel":
        code, body, _ = await host.post(f"/api/orders/{oid}/cancel")
        assert code == 202, body
        return
    code, _, _ = await host.post(f"{WEBHOOK}/instances/{oid}/terminate", params={"reason": "operator"})
    assert code == 202
    if action == "purge":
        await host.wait_for(oid, ("Terminated",))
        code, body, _ = await host.request("DELETE", f"{WEBHOOK}/instances/{oid}")
        assert code == 200 and body == {"instancesDeleted": 1}


@pytest.mark.parametrize("step", list(STEPS))
async def test_terminate_purge_and_cancel_at_each_step_leave_no_stock_held(
    host: HostHarness, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    where, price = STEPS[step]
    gate = Gate(monkeypatch, *where) if where else None
    sku = unique("SKU-CXL").upper()
    await stock(host, sku, INITIAL)
    orders = {action: unique(f"cxl-{action}") for action in ACTIONS}
    for oid in orders.values():
        code, body, _ = await host.post("/api/orders", json=make_order(oid, [(sku, QUANTITY, price)]))
        assert code == 202, body
    if gate is not None:
        await host.wait_until(lambda: gate.entered >= len(orders), what=f"every order blocked at {step}")
    else:
        for oid in orders.values():
            await host.wait_until(lambda oid=oid: _custom_step(host, oid), what="a custom status")
            await host.wait_until(
                lambda oid=oid: _custom_step_is(host, oid, "awaiting_approval"), what="awaiting_approval"
            )
    held = await inventory_of(host, sku)
    assert held is not None
    if step == "fulfilling":  # committed: the stock left the reservation and the warehouse
        assert (held["quantity"], held["reserved"]) == (INITIAL - QUANTITY * len(orders), 0)
    else:
        assert held["reserved"] == QUANTITY * len(orders)
        assert held["holders"] == {oid: {"line-1": QUANTITY} for oid in orders.values()}

    for action, oid in orders.items():
        await _act(host, action, oid)
    if gate is not None:
        gate.open()
    for oid in orders.values():
        await _quiet(host, oid)

    cancelled = await host.status(orders["cancel"])
    assert cancelled is not None and cancelled["runtimeStatus"] == "Completed"
    # Once shipped, a cancellation is too late: the order completes.
    assert cancelled["output"]["status"] == ("completed" if step == "fulfilling" else "cancelled")
    assert await host.status(orders["purge"]) is None

    code, report, _ = await host.post("/api/reconciliations/inventory")
    assert code == 200, report
    if step != "fulfilling":  # the terminated and the purged orders still held their stock
        assert {(r["holder"], r["quantity"]) for r in report["released"] if r["sku"] == sku} == {
            (orders["terminate"], QUANTITY),
            (orders["purge"], QUANTITY),
        }
    shipped = sum([await _shipped(host, oid) for oid in orders.values()])
    expected = {"sku": sku, "quantity": INITIAL - shipped, "reserved": 0, "available": INITIAL - shipped, "holders": {}}
    await host.wait_until(lambda: _inventory_is(host, sku, expected), what=f"{sku} == {expected}")


async def _custom_step_is(host: HostHarness, oid: str, step: str) -> bool:
    return await _custom_step(host, oid) == step


async def _inventory_is(host: HostHarness, sku: str, expected: dict[str, Any]) -> bool:
    return await inventory_of(host, sku) == expected


async def test_the_scheduled_reconciler_releases_a_terminated_orders_stock(host: HostHarness) -> None:
    sku, oid = unique("SKU-TMR").upper(), unique("tmr")
    await stock(host, sku, INITIAL)
    await host.post("/api/orders", json=make_order(oid, [(sku, QUANTITY, 90_000)]))
    await host.wait_until(lambda: _custom_step_is(host, oid, "awaiting_approval"), what="awaiting_approval")
    code, _, _ = await host.post(f"{WEBHOOK}/instances/{oid}/terminate", params={"reason": "operator"})
    assert code == 202
    await host.wait_for(oid, ("Terminated",))
    held = await inventory_of(host, sku)
    assert held is not None and held["holders"] == {oid: {"line-1": QUANTITY}}
    host.clock_advance(minutes=5)  # the timer trigger's schedule: every five minutes
    expected = {"sku": sku, "quantity": INITIAL, "reserved": 0, "available": INITIAL, "holders": {}}
    await host.wait_until(lambda: _inventory_is(host, sku, expected), what="the scheduled reconciler's release")
