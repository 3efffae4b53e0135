"""State survives a host restart: stop mid-workflow, start again on the same SQLite file."""

from __future__ import annotations

from pathlib import Path

from durable_local.testing import running_host
from tests.e2e.conftest import REPO, inventory_of, make_order, stock, unique


async def test_workflow_started_before_a_restart_finishes_after_it(app_env: Path):
    data_dir = app_env / "durable"
    sku, oid = unique("SKU-RST").upper(), unique("order")
    async with running_host(REPO, store="sqlite", data_dir=data_dir) as h:
        await stock(h, sku, 10)
        await h.post("/api/orders", json=make_order(oid, [(sku, 2, 90_000)]))
        await h.wait_until(lambda: _awaiting(h, oid), what="approval wait")
        assert (await inventory_of(h, sku))["reserved"] == 2

    async with running_host(REPO, store="sqlite", data_dir=data_dir) as h:
        status = await h.status(oid)
        assert status["runtimeStatus"] == "Running"
        code, _, _ = await h.post(f"/api/orders/{oid}/approval", json={"approved": True, "approver": "ops"})
        assert code == 202
        status = await h.wait_for(oid)
        assert status["output"]["status"] == "completed"
        assert await inventory_of(h, sku) == {"sku": sku, "quantity": 8, "reserved": 0, "available": 8, "holders": {}}


async def test_memory_store_forgets_everything_on_restart(app_env: Path):
    async with running_host(REPO, store="memory") as h:
        code, body, _ = await h.post("/api/orchestrators/approval_workflow", json={"requestId": unique("r")})
        assert code == 202
        assert await h.status(body["id"]) is not None
    async with running_host(REPO, store="memory") as h:
        code, listed, _ = await h.get("/runtime/webhooks/durabletask/instances/")
        assert code == 200 and listed == []


async def _awaiting(h, oid):
    s = await h.status(oid, showHistory="true")
    return s and any(e["EventType"] == "TimerCreated" for e in s.get("historyEvents", []))
