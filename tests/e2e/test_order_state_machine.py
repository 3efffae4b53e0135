"""A Hypothesis state machine over the order app: place / approve / reject / cancel / terminate /
purge / re-place / host restart, orders sharing two SKUs (SQLite store, so the host can restart).

After every step, once the host is quiet (no message due) and the inventory reconciler ran:
every holder on a SKU is a running order, ``reserved`` equals what the running orders hold (each
waiting order holds exactly its lines) and the stock equals the initial stock minus what the
completed orders shipped.

``make test``: 3 examples x 8 steps; ``make test-full`` (slow): 25 examples x 20 steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from durable_local.testing import running_host
from tests.chaos.test_r8_state_machine import LoopThread
from tests.e2e.conftest import REPO, make_order

WEBHOOK = "/runtime/webhooks/durabletask"
SKUS = ("SKU-SMA", "SKU-SMB")
INITIAL = 8
LARGE, SMALL = 90_000, 100  # unit prices: above / below the approval threshold per line
LINES = st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 3)), min_size=1, max_size=2, unique_by=lambda t: t[0])


class Host:
    """The app on an in-process host over one SQLite folder, restartable."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.cm: Any = None
        self.h: Any = None

    async def start(self) -> None:
        self.cm = running_host(REPO, store="sqlite", data_dir=self.data_dir)
        self.h = await self.cm.__aenter__()

    async def stop(self) -> None:
        if self.cm is not None:
            await self.cm.__aexit__(None, None, None)
            self.cm = self.h = None

    def _due(self, ids: list[str]) -> bool:
        now = self.h.clock.now()
        return any(m.visible_at is None or m.visible_at <= now for iid in ids for m in self.h.store.list_messages(iid))

    async def quiet(self, orders: list[str]) -> None:
        """Wait until no message is due for the orders, their children and the inventory."""
        ids = [f"@inventoryentity@{s}" for s in SKUS] + ["@inventorycatalog@all"]
        ids += [f"{o}{suffix}" for o in orders for suffix in ("", ":payment", ":fulfillment")]
        deadline = time.monotonic() + 30
        while self._due(ids):
            assert time.monotonic() < deadline, "the host did not go quiet in 30 s"
            await asyncio.sleep(0.01)

    async def status(self, oid: str) -> dict[str, Any] | None:
        return await self.h.status(oid)


class OrdersMachine(RuleBasedStateMachine):
    loop: LoopThread
    totals: Counter[str] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory(prefix="orders-sm-")
        self.host = Host(Path(self.tmp.name) / "d")
        self.run(self.host.start())
        for sku in SKUS:
            code, _, _ = self.run(self.host.h.post(f"/api/inventory/{sku}", json={"quantity": INITIAL}))
            assert code == 202
        self.lines: dict[str, list[tuple[str, int]]] = {}  # order -> (sku, quantity) lines
        self.large: dict[str, bool] = {}
        self.completed_runs: set[tuple[str, str]] = set()  # (order, createdTime): runs that shipped
        self.next_id = 0
        self.totals["examples"] += 1

    def run(self, coro: Any) -> Any:
        return self.loop.run(coro, timeout=60)

    # -- rules ------------------------------------------------------------------------------------
    def _place(self, oid: str) -> None:
        price = LARGE if self.large[oid] else SMALL
        order = make_order(oid, [(sku, qty, price) for sku, qty in self.lines[oid]])
        code, body, _ = self.run(self.host.h.post("/api/orders", json=order))
        assert code in (202, 409), body

    @rule(lines=LINES, large=st.booleans())
    def place(self, lines: list[tuple[str, int]], large: bool) -> None:
        self.next_id += 1
        oid = f"sm-{self.next_id}"
        self.lines[oid], self.large[oid] = lines, large
        self._place(oid)

    @precondition(lambda self: self.lines)
    @rule(data=st.data(), approved=st.booleans())
    def decide(self, data: st.DataObject, approved: bool) -> None:
        oid = data.draw(st.sampled_from(sorted(self.lines)))
        code, _, _ = self.run(self.host.h.post(f"/api/orders/{oid}/approval", json={"approved": approved,
                                                                                    "approver": "sm"}))
        assert code in (202, 404, 410)

    @precondition(lambda self: self.lines)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        oid = data.draw(st.sampled_from(sorted(self.lines)))
        assert self.run(self.host.h.post(f"/api/orders/{oid}/cancel"))[0] in (202, 404, 410)

    @precondition(lambda self: self.lines)
    @rule(data=st.data(), purge=st.booleans())
    def terminate(self, data: st.DataObject, purge: bool) -> None:
        oid = data.draw(st.sampled_from(sorted(self.lines)))
        code, _, _ = self.run(self.host.h.post(f"{WEBHOOK}/instances/{oid}/terminate", params={"reason": "sm"}))
        assert code in (202, 404, 410)
        if purge:
            self.run(self.host.quiet([oid]))
            self.run(self.host.h.request("DELETE", f"{WEBHOOK}/instances/{oid}"))

    @precondition(lambda self: self.lines)
    @rule(data=st.data())
    def place_again(self, data: st.DataObject) -> None:
        """The same order id placed again (allowed once it failed, was terminated or purged)."""
        self._place(data.draw(st.sampled_from(sorted(self.lines))))

    @rule()
    def restart_host(self) -> None:
        self.run(self.host.stop())
        self.run(self.host.start())
        self.totals["restarts"] += 1

    # -- the invariant ----------------------------------------------------------------------------
    @invariant()
    def no_stock_held_by_an_order_that_is_not_running(self) -> None:
        orders = sorted(self.lines)
        self.run(self.host.quiet(orders))
        code, report, _ = self.run(self.host.h.post("/api/reconciliations/inventory"))
        assert code == 200, report
        self.run(self.host.quiet(orders))
        statuses = {oid: self.run(self.host.status(oid)) for oid in orders}
        running = {oid for oid, s in statuses.items() if s and s["runtimeStatus"] in ("Running", "Pending")}
        for oid, s in statuses.items():  # remembered: a later step may purge the order
            if s and s["runtimeStatus"] == "Completed" and (s.get("output") or {}).get("status") == "completed":
                self.completed_runs.add((oid, s["createdTime"]))
        shipped: Counter[str] = Counter()
        for oid, _ in self.completed_runs:
            for sku, qty in self.lines[oid]:
                shipped[sku] += qty
        for sku in SKUS:
            code, inv, _ = self.run(self.host.h.get(f"/api/inventory/{sku}"))
            assert code == 200, inv
            holders = inv["holders"]
            assert set(holders) <= running, (sku, holders, running)
            assert inv["reserved"] == sum(sum(lines.values()) for lines in holders.values()), inv
            for oid in running:  # a waiting order holds exactly its lines, once
                want = {f"line-{i}": q for i, (s, q) in enumerate(self.lines[oid], 1) if s == sku}
                assert holders.get(oid, {}) == want, (sku, oid, holders)
            assert inv["quantity"] == INITIAL - shipped[sku], (sku, inv, dict(shipped))
        self.totals["checks"] += 1

    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.host.stop())
        self.tmp.cleanup()


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, examples: int, steps: int) -> None:
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))
    monkeypatch.setenv("APPROVAL_THRESHOLD_CENTS", "100000")
    OrdersMachine.loop = LoopThread()
    OrdersMachine.totals = Counter()
    try:
        test = OrdersMachine.TestCase
        test.settings = settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                                 suppress_health_check=list(HealthCheck), database=None)
        test().runTest()
    finally:
        OrdersMachine.loop.close()
    t = OrdersMachine.totals
    print(f"\norders state machine: {t['examples']} examples x up to {steps} steps, {t['checks']} invariant checks, "
          f"{t['restarts']} host restarts")
    assert t["checks"] > 0


@pytest.mark.timeout(300)
def test_orders_state_machine_sampled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _run(monkeypatch, tmp_path, examples=3, steps=8)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_orders_state_machine_full(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _run(monkeypatch, tmp_path, examples=25, steps=20)
