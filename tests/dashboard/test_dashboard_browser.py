"""The dashboard in a real headless chromium, against this repo's order app on an in-process host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from durable_local.testing import HostHarness, running_host
from tests.dashboard.cdp import Page
from tests.dashboard.conftest import ARTIFACTS, REPO
from tests.e2e.conftest import finish_with_clock, make_order, stock, unique

pytestmark = pytest.mark.browser
WEBHOOK = "/runtime/webhooks/durabletask"


async def _step(h: HostHarness, oid: str, step: str) -> dict[str, Any] | None:
    status = await h.status(oid)
    return status if status and (status.get("customStatus") or {}).get("step") == step else None


def _row(iid: str) -> str:
    return f"#instances-body tr[data-instance-id={json.dumps(iid)}]"


async def test_approve_a_large_order_with_one_click(host: HostHarness, page: Page) -> None:
    sku, oid = unique("SKU-DASH").upper(), unique("order")
    await stock(host, sku, 10)
    code, _, _ = await host.post("/api/orders", json=make_order(oid, [(sku, 2, 90_000), (sku, 1, 2_500)]))
    assert code == 202
    await host.wait_until(lambda: _step(host, oid, "awaiting_approval"), what="awaiting_approval")

    await page.goto(host.url("/_durable/"))
    await page.wait_for(f"document.querySelector('{_row(oid)} .tag-approval')", what="the order in the list")
    await page.screenshot(ARTIFACTS / "dashboard-list.png")
    await page.click(f"{_row(oid)} a.iid")
    await page.wait_for("document.body.dataset.view === 'instance'", what="the instance page")
    await page.wait_for("!document.getElementById('approval').hidden", what="the approval callout")
    assert "Total 1825.00" in await page.text("#approval")
    await page.screenshot(ARTIFACTS / "dashboard-awaiting-approval.png")

    await page.click("#approve-btn")
    await page.wait_for("document.body.dataset.instanceStatus === 'Completed'", what="Completed in the page")
    assert "Completed" in await page.text("#instance-status")
    assert '"status": "completed"' in await page.text("#instance-output")

    status = await host.wait_for(oid, showHistory="true", showHistoryOutput="true")
    assert status["runtimeStatus"] == "Completed" and status["output"]["status"] == "completed"
    raised = [e for e in status["historyEvents"] if e["EventType"] == "EventRaised" and e["Name"] == "ApprovalResponse"]
    assert len(raised) == 1 and json.loads(raised[0]["Input"]) == {"approved": True, "approver": "dashboard"}

    # the timeline: the approval event, the approval timer, the sub-orchestrations, entity calls
    await page.wait_for("document.querySelector('#timeline .tl-external')", what="the event in the timeline")
    timeline = await page.text("#timeline")
    assert "event: ApprovalResponse" in timeline
    assert "PaymentOrchestrator" in timeline and "FulfillmentOrchestrator" in timeline
    assert await page.evaluate("document.querySelectorAll('#timeline .tl-timer').length") >= 1
    assert await page.evaluate("document.querySelectorAll('#timeline .tl-entity').length") >= 1
    related = await page.text("#instance-related")
    assert f"{oid}:payment" in related and f"{oid}:fulfillment" in related
    shot = await page.screenshot(ARTIFACTS / "dashboard.png")
    assert shot.stat().st_size > 10_000


async def test_reject_and_timeline_shows_retries_and_parallel_calls(host: HostHarness, page: Page) -> None:
    sku_a, sku_b = unique("SKU-PA").upper(), unique("SKU-PB").upper()
    await stock(host, sku_a, 10)
    await stock(host, sku_b, 10)
    big, flaky = unique("order-big"), unique("order-flaky")
    await host.post("/api/orders", json=make_order(big, [(sku_a, 2, 90_000)]))
    # a card whose first two charges fail transiently: retries with back-off timers in between
    await host.post("/api/orders", json=make_order(flaky, [(sku_a, 1, 100), (sku_b, 1, 100)], card="4000000000009995"))
    await finish_with_clock(host, flaky)
    await host.wait_until(lambda: _step(host, big, "awaiting_approval"), what="awaiting_approval")

    await page.goto(host.url(f"/_durable/#/instances/{big}"))
    await page.click("#reject-btn")
    await page.wait_for("document.body.dataset.instanceStatus === 'Completed'", what="Completed after rejecting")
    status = await host.wait_for(big)
    assert status["output"]["status"] == "rejected"

    await page.goto(host.url(f"/_durable/#/instances/{flaky}:payment"))
    await page.wait_for("document.querySelectorAll('#timeline .tl-retry').length === 3", what="three attempts")
    assert await page.evaluate("document.querySelectorAll('#timeline .tl-retry.tl-failed').length") == 2
    assert await page.evaluate("document.querySelectorAll('#timeline .tl-timer.tl-ok').length") == 2
    assert "attempt 3" in await page.text("#timeline")
    await page.screenshot(ARTIFACTS / "dashboard-retries.png")

    await page.goto(host.url(f"/_durable/#/instances/{flaky}"))
    await page.wait_for("document.querySelectorAll('#timeline .tl-parallel').length >= 2", what="a parallel group")
    assert "parallel ×2" in await page.text("#timeline")
    await page.screenshot(ARTIFACTS / "dashboard-parallel.png")


async def test_list_filters_search_paging_and_actions(host: HostHarness, page: Page) -> None:
    sku = unique("SKU-LIST").upper()
    await stock(host, sku, 100)
    prefix = unique("pg")
    ids = [f"{prefix}-{i:02d}" for i in range(12)]
    for oid in ids:
        await host.post("/api/orders", json=make_order(oid, [(sku, 1, 100)]))
    for oid in ids:
        await host.wait_for(oid)
    waiting = unique("order-wait")
    await host.post("/api/orders", json=make_order(waiting, [(sku, 2, 90_000)]))
    await host.wait_until(lambda: _step(host, waiting, "awaiting_approval"), what="awaiting_approval")

    _, every, _ = await host.get(f"{WEBHOOK}/instances", params={"instanceIdPrefix": prefix, "top": "100"})
    expected = {s["instanceId"] for s in every}  # the orders and their sub-orchestrations
    assert len(expected) > 20
    await page.goto(host.url("/_durable/#/?top=10"))
    await page.type_into("#prefix", prefix)
    rows = "[...document.querySelectorAll('#instances-body tr[data-instance-id]')].map(r => r.dataset.instanceId)"
    has_prefix = f"ids.every(i => i.startsWith({json.dumps(prefix)}))"
    first = await page.wait_for(f"(ids => ids.length === 10 && {has_prefix} && ids)({rows})",
                                what="a first page of 10 with the prefix")
    seen, pages = list(first), [first]
    while not await page.evaluate("document.getElementById('page-next').disabled"):
        await page.click("#page-next")
        shown = await page.wait_for(f"(ids => ids.length && ids[0] !== {json.dumps(pages[-1][0])} && ids)({rows})",
                                    what="the next page")
        pages.append(shown)
        seen += shown
    assert len(seen) == len(expected) and set(seen) == expected
    full, rest = divmod(len(expected), 10)
    assert [len(p) for p in pages] == [10] * full + ([rest] if rest else [])
    await page.click("#page-prev")
    await page.wait_for(f"({rows})[0] === {json.dumps(pages[-2][0])}", what="the previous page")

    await page.type_into("#prefix", "")
    await page.click(".chip[data-status='Running']")
    await page.wait_for(f"document.querySelector('{_row(waiting)}')", what="the running order")
    assert await page.evaluate("[...document.querySelectorAll('#instances-body tr[data-status]')]"
                               ".every(r => r.dataset.status === 'Running')")

    # suspend, resume, terminate (confirmed), restart and purge through the buttons
    await page.click(f"{_row(waiting)} a.iid")
    await page.click("#suspend-btn")
    await page.wait_for("document.body.dataset.instanceStatus === 'Suspended'", what="Suspended")
    await page.click("#resume-btn")
    await page.wait_for("document.body.dataset.instanceStatus === 'Running'", what="Running again")
    await page.click("#terminate-btn")
    await page.click("#terminate-btn")
    await page.wait_for("document.body.dataset.instanceStatus === 'Terminated'", what="Terminated")
    assert (await host.status(waiting))["runtimeStatus"] == "Terminated"
    await page.click("#purge-btn")
    await page.click("#purge-btn")
    await page.wait_for("document.body.dataset.view === 'list'", what="back to the list after purge")
    assert await host.status(waiting) is None

    await page.goto(host.url(f"/_durable/#/instances/{ids[0]}"))
    await page.click("#restart-btn")
    await page.click("#restart-btn")
    await page.wait_for(f"location.hash !== '#/instances/{ids[0]}' && document.body.dataset.view === 'instance'",
                        what="the restarted instance")
    new_id = await page.evaluate("decodeURIComponent(location.hash.slice('#/instances/'.length))")
    assert new_id != ids[0]
    assert (await host.wait_for(new_id))["runtimeStatus"] == "Completed"

    # raise an arbitrary event through the form: the restarted instance has completed (410)
    await page.type_into("#event-name", "SomethingElse")
    await page.click("#raise-btn")
    await page.wait_for("document.querySelector('.flash-error')", what="an error for a completed instance")


async def test_entities_page_shows_current_state(host: HostHarness, page: Page) -> None:
    sku = unique("SKU-ENT").upper()
    await stock(host, sku, 7)
    await page.goto(host.url("/_durable/#/entities"))
    row = f"#entities-body tr[data-entity={json.dumps('inventoryentity@' + sku)}]"
    await page.wait_for(f"document.querySelector({json.dumps(row)})", what="the entity row")
    state = await page.text(row)
    assert '"quantity": 7' in state
    await page.type_into("#entity-name", "nosuchentity")
    await page.wait_for("document.querySelector('#entities-body .empty')", what="an empty filtered list")


async def test_with_keys_the_page_passes_the_master_key_along(app_env: Path, page: Page) -> None:
    key = "browser-test-master-key"
    async with running_host(REPO, store="memory", data_dir=app_env / "durable", master_key=key) as h:
        iid = unique("keyed")
        code, _, _ = await h.post(f"{WEBHOOK}/orchestrators/approval_workflow/{iid}", json={"timeoutHours": 1},
                                  headers={"x-functions-key": key})
        assert code == 202
        await page.goto(h.url(f"/_durable/?code={key}"))
        await page.wait_for(f"document.querySelector('{_row(iid)}')", what="the instance listed with the key")
        await page.click(f"{_row(iid)} a.iid")
        await page.wait_for("!document.getElementById('approval').hidden", what="the approval callout")
        await page.click("#approve-btn")
        await page.wait_for("document.body.dataset.instanceStatus === 'Completed'", what="Completed")
        assert (await h.status(iid, code=key))["output"]["status"] == "approved"


async def test_newest_first_sorting_parent_child_links_and_cancel_order(host: HostHarness, page: Page) -> None:
    sku = unique("SKU-DCX").upper()
    await stock(host, sku, 10)
    shipped, waiting = unique("order-shipped"), unique("order-waiting")
    await host.post("/api/orders", json=make_order(shipped, [(sku, 1, 100)]))
    assert (await host.wait_for(shipped))["runtimeStatus"] == "Completed"
    host.clock_advance(seconds=5)  # created times are shown to the second
    await host.post("/api/orders", json=make_order(waiting, [(sku, 2, 90_000)]))
    await host.wait_until(lambda: _step(host, waiting, "awaiting_approval"), what="awaiting_approval")

    # the list: newest first; a click on a header sorts by that column
    await page.goto(host.url("/_durable/"))
    await page.wait_for(f"document.querySelector('{_row(waiting)}')", what="the waiting order in the list")
    ids_js = "[...document.querySelectorAll('#instances-body tr[data-instance-id]')].map(r => r.dataset.instanceId)"
    ids = await page.evaluate(ids_js)
    assert ids.index(waiting) < ids.index(shipped)
    await page.click("#instances th[data-column='0']")
    await page.wait_for("document.querySelector(\"#instances th[data-column='0']\").getAttribute('aria-sort')"
                        " === 'ascending'", what="sorted by instance id")
    ids = await page.evaluate(ids_js)
    assert ids == sorted(ids)

    # a sub-orchestration links to its parent, and the parent to its children
    await page.goto(host.url(f"/_durable/#/instances/{shipped}:payment"))
    await page.wait_for("document.getElementById('parent-link')", what="the parent link")
    await page.click("#parent-link")
    await page.wait_for(f"document.getElementById('instance-id').textContent === {json.dumps(shipped)}",
                        what="the parent's page")
    await page.wait_for("document.querySelectorAll('#children .child-link').length === 2", what="the children")
    assert f"{shipped}:fulfillment" in await page.text("#children")

    # Cancel order (raw Terminate is labelled as what it is)
    await page.goto(host.url(f"/_durable/#/instances/{waiting}"))
    await page.wait_for("!document.getElementById('cancel-order-btn').disabled", what="the Cancel order button")
    assert "no compensation" in await page.text("#terminate-btn")
    await page.click("#cancel-order-btn")
    await page.click("#cancel-order-btn")
    await page.wait_for("document.body.dataset.instanceStatus === 'Completed'", what="the cancelled order")
    status = await host.wait_for(waiting)
    assert status["output"]["status"] == "cancelled"
    code, inventory, _ = await host.get(f"/api/inventory/{sku}")
    assert code == 200 and (inventory["reserved"], inventory["holders"]) == (0, {})
