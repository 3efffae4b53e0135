"""R2: crash at every durable write in turn (``fault_point`` names in store/faultpoints.py).

Workload (single-line orders so histories are deterministic): a happy order, a declined card
(compensation), an inventory shortage (rejection) and an order waiting for approval whose
72-hour timer fires (virtual clock). A clean run counts K fault-point hits and records the
golden outputs, entity states and histories (modulo timestamps and request uuids).

* ``raise`` (in-process, SQLite): for k in 1..K raise FaultInjected at the k-th write, restart
  the host on the same file, finish; compare with golden; ≤ 1 extra activity execution per crash.
* ``persistent``: every write from the k-th on fails for a while, then faults are disabled.
* ``exit`` (subprocess): ``os._exit(137)`` at the k-th write, restart, finish, compare.

``make test`` samples k; ``make test-full`` sweeps every k.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from durable_local.runtime import invoke
from durable_local.runtime.clock import VirtualClock
from durable_local.store.sqlite import SqliteStore
from durable_local.testing import running_host
from durable_local.testing.faults import FaultPlan, all_instances, assert_clean
from tests.chaos.kit import DECLINE_CARD, REPO, HostProcess, request, set_stock, start_order
from tests.e2e.conftest import make_order

STOCK = {"SKU-RA": 10, "SKU-RB": 10, "SKU-RC": 1, "SKU-RD": 10}
ORDERS = {
    "r2-happy": (make_order("r2-happy", [("SKU-RA", 2, 700)]), {"SKU-RA": 2}),
    "r2-decline": (make_order("r2-decline", [("SKU-RB", 1, 500)], card=DECLINE_CARD), {"SKU-RB": 1}),
    "r2-short": (make_order("r2-short", [("SKU-RC", 2, 100)]), {"SKU-RC": 2}),
    "r2-approval": (make_order("r2-approval", [("SKU-RD", 2, 90_000)]), {"SKU-RD": 2}),
}
SUBPROCESS_ORDERS = ("r2-happy", "r2-decline", "r2-short")
TERMINAL = {"Completed", "Failed", "Terminated"}


def _env(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp / "sandbox"))
    monkeypatch.setenv("APPROVAL_THRESHOLD_CENTS", "100000")
    monkeypatch.setenv("APPROVAL_TIMEOUT_HOURS", "72")
    monkeypatch.setenv("TASK_HUB_NAME", "R2Hub")
    for name in ("PAYMENT_ADAPTER", "CARRIER_ADAPTER", "NOTIFICATION_ADAPTER"):
        monkeypatch.delenv(name, raising=False)


def signature(store: SqliteStore) -> dict[str, Any]:
    """Outputs, entity states and histories modulo timestamps / generated request ids."""
    out: dict[str, Any] = {}
    for rec in all_instances(store):
        hist = []
        for e in store.get_history(rec.instance_id):
            t = e["EventType"]
            if t in (12, 13):  # OrchestratorStarted/Completed: episode boundaries, timing-dependent
                continue
            item: tuple[Any, ...] = (t, e.get("Name"), e.get("EventId"), e.get("TaskScheduledId"), e.get("TimerId"))
            if t in (14, 15):  # entity request/response: the request id is a time-based uuid
                body = json.loads(e.get("Input") or "{}")
                item = (t, e.get("InstanceId"), body.get("op"), body.get("result"), e.get("EventId"))
            hist.append(item)
        out[rec.instance_id] = (rec.runtime_status, json.loads(rec.output) if rec.output else None, hist)
    for rec in all_instances(store, entities=True):
        out[rec.instance_id] = json.loads(rec.entity_state) if rec.entity_state else None
    return out


class ActivityCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = invoke.call_activity

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(invoke, "call_activity", counted)


async def _drive_in_process(data_dir: Path, plan: FaultPlan | None, *, stock: bool, clock: VirtualClock,
                            accepted: set[str], hold: float = 0.0) -> bool:
    """Run (part of) the workload on one in-process host. Returns True when the plan fired
    (the caller then 'restarts': a new host on the same file). Orders are only re-POSTed until
    accepted: re-POSTing a *completed* order id starts it again (the app's choice, see notes)."""
    async with running_host(REPO, store="sqlite", data_dir=data_dir, clock=clock) as h:
        if stock:
            for sku, qty in STOCK.items():
                await set_stock(h.session, h.base_url, sku, qty)
        if plan is not None:
            plan.install()
        try:
            for oid, (order, _) in ORDERS.items():
                if plan is not None and plan.fired:
                    break
                if oid in accepted:
                    continue
                try:
                    await start_order(h.session, h.base_url, order, deadline=20 if plan is None else 3)
                    accepted.add(oid)
                except AssertionError:
                    if plan is None or not plan.fired:
                        raise
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if plan is not None and plan.fired:
                    if plan.persistent:
                        await asyncio.sleep(hold)  # let everything fail for a while
                    return True
                states = [(await h.status(oid) or {}).get("runtimeStatus") for oid in ORDERS]
                if all(s in TERMINAL for s in states):
                    return False
                h.clock_advance(hours=6)  # back-offs, retries and the 72 h approval timer
                await asyncio.sleep(0.05)
            raise AssertionError("workload did not finish")
        finally:
            if plan is not None:
                plan.disable()
                plan.uninstall()


async def run_in_process(tmp: Path, plan: FaultPlan | None) -> tuple[dict[str, Any], int]:
    data_dir = tmp / "durable"
    clock = VirtualClock()
    accepted: set[str] = set()
    fired = await _drive_in_process(data_dir, plan, stock=True, clock=clock, accepted=accepted, hold=0.3)
    restarts = 0
    while fired:
        restarts += 1
        fired = await _drive_in_process(data_dir, None, stock=False, clock=clock, accepted=accepted)
    assert restarts <= 1
    store = SqliteStore(data_dir / "durable.db")
    try:
        lines = {oid: units for oid, (_, units) in ORDERS.items()}
        assert_clean(store, initial_stock=STOCK, order_lines=lines, sandbox_dir=tmp / "sandbox")
        return signature(store), restarts
    finally:
        store.close()


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("r2-golden")
    mp = pytest.MonkeyPatch()
    try:
        _env(mp, tmp)
        counter = ActivityCounter(mp)
        plan = FaultPlan(at=None)
        sig, _ = asyncio.run(run_in_process(tmp, plan))
        return {"sig": sig, "K": len(plan.hits), "points": list(plan.hits), "activities": counter.calls}
    finally:
        mp.undo()


def sampled(k_max: int, n: int) -> list[int]:
    if n >= k_max:
        return list(range(1, k_max + 1))
    return sorted({1 + round(i * (k_max - 1) / (n - 1)) for i in range(n)})


async def _check_k(tmp: Path, monkeypatch: pytest.MonkeyPatch, golden: dict[str, Any], k: int,
                   persistent: bool = False) -> None:
    _env(monkeypatch, tmp)
    counter = ActivityCounter(monkeypatch)
    plan = FaultPlan(at=k, action="raise", persistent=persistent)
    sig, _ = await run_in_process(tmp, plan)
    where = f"k={k} ({golden['points'][k - 1] if k <= len(golden['points']) else '?'}) fired={plan.fired[:3]}"
    assert sig == golden["sig"], f"{where}: diverged from the golden run"
    if not persistent:
        assert counter.calls <= golden["activities"] + 1, f"{where}: {counter.calls} activity executions"


async def test_r2_golden_run_counts_every_durable_write(golden: dict[str, Any]) -> None:
    points = set(golden["points"])
    print(f"\nR2: K = {golden['K']} durable writes in a clean run; points: {sorted(points)}")
    for name in ("commit.after_instance", "commit.after_history", "commit.after_outbox_enqueue",
                 "commit.before_commit", "commit.after_commit", "complete_activity.before_commit",
                 "complete_activity.after_activity_result_persist", "create_instance.before_commit"):
        assert name in points


@pytest.mark.timeout(300)
@pytest.mark.parametrize("index", range(8))
async def test_r2_raise_sampled(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                golden: dict[str, Any]) -> None:
    k = sampled(golden["K"], 8)[index]
    await _check_k(tmp_path, monkeypatch, golden, k)


@pytest.mark.timeout(300)
async def test_r2_fail_every_write_after_the_first_then_recover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                golden: dict[str, Any]) -> None:
    await _check_k(tmp_path, monkeypatch, golden, 2, persistent=True)


@pytest.mark.slow
@pytest.mark.timeout(3600)
async def test_r2_raise_full_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, golden: dict[str, Any]) -> None:
    for k in range(1, golden["K"] + 1):
        await _check_k(tmp_path / f"k{k}", monkeypatch, golden, k)
    for k in sampled(golden["K"], 10):
        await _check_k(tmp_path / f"p{k}", monkeypatch, golden, k, persistent=True)
    print(f"\nR2 raise: {golden['K']}/{golden['K']} crash points converge to the golden run")


# -- os._exit(137) in a subprocess -------------------------------------------------------------------

async def run_subprocess(tmp: Path, spec: str | None) -> tuple[dict[str, Any], bool]:
    tmp.mkdir(parents=True, exist_ok=True)
    host = HostProcess(tmp, name="r2")
    host.start()
    crashed = False
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            for sku, qty in STOCK.items():
                await set_stock(s, host.base_url, sku, qty)
        host.terminate()
        host.start(faults=spec)
        accepted: set[str] = set()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            for oid in SUBPROCESS_ORDERS:
                if not host.alive():
                    break
                with contextlib.suppress(AssertionError):
                    await start_order(s, host.base_url, ORDERS[oid][0], deadline=5 if spec else 30)
                    accepted.add(oid)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if not host.alive():
                    crashed = True
                    assert host.proc is not None and host.proc.returncode == 137
                    host.start(faults=None)
                    for oid in SUBPROCESS_ORDERS:  # a start the crash swallowed is retried
                        if oid not in accepted:
                            await start_order(s, host.base_url, ORDERS[oid][0], deadline=30)
                            accepted.add(oid)
                done = True
                for oid in SUBPROCESS_ORDERS:
                    try:
                        url = f"{host.base_url}/runtime/webhooks/durabletask/instances/{oid}"
                        code, body = await request(s, "GET", url)
                    except (aiohttp.ClientError, OSError):
                        done = False
                        break
                    if not (code == 200 and body.get("runtimeStatus") in TERMINAL):
                        done = False
                if done:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"{spec}: not terminal in 60 s")
        host.terminate()
    finally:
        host.stop()
    store = SqliteStore(host.db_path)
    try:
        lines = {oid: ORDERS[oid][1] for oid in SUBPROCESS_ORDERS}
        assert_clean(store, initial_stock={k: v for k, v in STOCK.items() if k != "SKU-RD"}, order_lines=lines,
                     sandbox_dir=tmp / "sandbox")
        sig = signature(store)
        sig.pop("@inventoryentity@SKU-RD", None)
        return sig, crashed
    finally:
        store.close()


@pytest.fixture(scope="module")
def golden_subprocess(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("r2-golden-sub")
    sig, crashed = asyncio.run(run_subprocess(tmp, None))
    assert not crashed
    return sig


@pytest.mark.slow
@pytest.mark.timeout(3600)
async def test_r2_exit_full_sweep(tmp_path: Path, golden: dict[str, Any], golden_subprocess: dict[str, Any]) -> None:
    crashes = 0
    for k in range(1, golden["K"] + 1):
        sig, crashed = await run_subprocess(tmp_path / f"k{k}", f"exit@{k}")
        crashes += crashed
        assert sig == golden_subprocess, f"exit@{k}: diverged from the golden run"
    print(f"\nR2 exit: {crashes} crashes over k=1..{golden['K']}, all converged")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("index", range(3))
async def test_r2_exit_sampled(index: int, tmp_path: Path, golden: dict[str, Any],
                               golden_subprocess: dict[str, Any]) -> None:
    k = sampled(max(golden["K"] // 2, 3), 3)[index]  # the subprocess workload is the first ~half
    sig, crashed = await run_subprocess(tmp_path, f"exit@{k}")
    assert crashed, f"exit@{k} never fired"
    assert sig == golden_subprocess, f"exit@{k}: diverged from the golden run"
