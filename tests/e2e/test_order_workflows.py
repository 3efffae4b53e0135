"""Every path of the order app, end to end over real HTTP, on the memory and SQLite stores."""

from __future__ import annotations

from tests.e2e.conftest import finish_with_clock, inventory_of, make_order, stock, unique

WEBHOOK = "/runtime/webhooks/durabletask"


async def test_happy_order_reserves_then_commits_stock(host):
    sku, oid = unique("SKU-HAPPY").upper(), unique("order")
    await stock(host, sku, 10)
    code, body, headers = await host.post("/api/orders", json=make_order(oid, [(sku, 3, 1500)]))
    assert code == 202 and body["id"] == oid
    assert headers["Location"] == body["statusQueryGetUri"]
    status = await host.wait_for(oid)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "completed"
    assert status["output"]["totalCents"] == 4500
    assert status["output"]["trackingNumber"].startswith("SBX")
    assert await inventory_of(host, sku) == {"sku": sku, "quantity": 7, "reserved": 0, "available": 7, "holders": {}}
    # the app's own status route
    code, body, _ = await host.get(f"/api/orders/{oid}")
    assert code == 200 and body["runtimeStatus"] == "Completed"


async def test_every_url_of_the_check_status_payload_works(host):
    sku, oid = unique("SKU-URLS").upper(), unique("order")
    await stock(host, sku, 5)
    _, payload, _ = await host.post("/api/orders", json=make_order(oid, [(sku, 1, 100)]))
    await host.wait_for(oid)
    async with host.session.get(payload["statusQueryGetUri"]) as r:
        assert r.status == 200 and (await r.json())["runtimeStatus"] == "Completed"
    for key in ("terminatePostUri", "suspendPostUri", "resumePostUri"):
        async with host.session.post(payload[key].replace("{text}", "x")) as r:
            assert r.status == 410, key  # the instance already completed
    async with host.session.post(payload["sendEventPostUri"].replace("{eventName}", "E"), json={}) as r:
        assert r.status == 410
    async with host.session.post(payload["restartPostUri"]) as r:
        assert r.status == 202
        restarted = (await r.json())["id"]
    assert restarted != oid
    async with host.session.delete(payload["purgeHistoryDeleteUri"]) as r:
        assert r.status == 200 and (await r.json()) == {"instancesDeleted": 1}
    async with host.session.get(payload["statusQueryGetUri"]) as r:
        assert r.status == 404


async def test_inventory_shortage_rejects_and_releases_partial_reservations(host):
    a, b, oid = unique("SKU-SA").upper(), unique("SKU-SB").upper(), unique("order")
    await stock(host, a, 10)
    await stock(host, b, 1)
    await host.post("/api/orders", json=make_order(oid, [(a, 4, 100), (b, 2, 100)]))
    status = await host.wait_for(oid)
    assert status["output"]["status"] == "rejected"
    assert status["output"]["reason"] == "insufficient_inventory"
    assert (await inventory_of(host, a))["reserved"] == 0
    assert (await inventory_of(host, b)) == {"sku": b, "quantity": 1, "reserved": 0, "available": 1, "holders": {}}


async def test_payment_decline_compensates(host):
    sku, oid = unique("SKU-DEC").upper(), unique("order")
    await stock(host, sku, 10)
    await host.post("/api/orders", json=make_order(oid, [(sku, 1, 500)], card="4000000000000002"))
    status = await host.wait_for(oid)
    assert status["output"]["status"] in ("failed", "rejected")
    assert status["output"]["reason"] == "payment_declined"
    assert await inventory_of(host, sku) == {"sku": sku, "quantity": 10, "reserved": 0, "available": 10, "holders": {}}


async def test_transient_payment_failures_retry_then_succeed(host):
    sku, oid = unique("SKU-TRN").upper(), unique("order")
    await stock(host, sku, 10)
    await host.post("/api/orders", json=make_order(oid, [(sku, 1, 500)], card="4000000000009995"))
    status = await finish_with_clock(host, oid, step_seconds=31)
    assert status["output"]["status"] == "completed"
    assert (await inventory_of(host, sku))["quantity"] == 9


async def test_payment_sub_orchestration_failure_compensates(host):
    sku, oid = unique("SKU-PF").upper(), unique("order")
    await stock(host, sku, 10)
    await host.post("/api/orders", json=make_order(oid, [(sku, 1, 500)], card="4000000000000119"))
    status = await finish_with_clock(host, oid, step_seconds=31)
    assert status["output"]["status"] == "failed"
    assert status["output"]["reason"] == "payment_failed"
    child = await host.status(f"{oid}:payment")
    assert child["runtimeStatus"] == "Completed" and child["output"]["status"] == "failed"
    assert await inventory_of(host, sku) == {"sku": sku, "quantity": 10, "reserved": 0, "available": 10, "holders": {}}


async def test_robust_orchestrator_retries_then_succeeds(host):
    code, body, _ = await host.post("/api/orchestrators/robust_orchestrator", json={"key": unique("k"), "failTimes": 2})
    assert code == 202
    status = await finish_with_clock(host, body["id"], step_seconds=5)
    assert status["output"]["status"] == "success"
    history = (await host.status(body["id"], showHistory="true"))["historyEvents"]
    kinds = [e["EventType"] for e in history]
    assert kinds.count("TaskFailed") == 2 and kinds.count("TimerFired") == 2


async def test_robust_orchestrator_exhausts_retries_and_compensates(host):
    code, body, _ = await host.post("/api/orchestrators/robust_orchestrator", json={"key": unique("k"), "failTimes": 9})
    assert code == 202
    status = await finish_with_clock(host, body["id"], step_seconds=30)
    assert status["output"]["status"] == "failed"
    history = (await host.status(body["id"], showHistory="true"))["historyEvents"]
    names = [e.get("FunctionName") for e in history if e["EventType"] in ("TaskCompleted", "TaskFailed")]
    assert names.count("UnreliableActivity") == 3 and names[-1] == "CompensateFailure"


async def test_fan_out_fan_in_and_sub_orchestration_patterns(host):
    items = [{"id": f"i{n}", "productId": "SKU-FAN", "quantity": n, "unitPriceCents": 100} for n in range(1, 6)]
    code, body, _ = await host.post(
        "/api/orchestrators/OrderOrchestrator", json={"orderId": unique("fan"), "items": items}
    )
    assert code == 202
    status = await host.wait_for(body["id"])
    assert status["runtimeStatus"] == "Completed", status.get("output")
    assert status["output"]["total"] in (1500, "1500", 15.0, 15)

