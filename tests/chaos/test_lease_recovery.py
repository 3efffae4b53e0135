"""Regression: a restarted host takes back a crashed host's leases at once (found by R1:
orders stalled for LEASE_SECONDS = 300 s after every kill -9)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from durable_local.runtime.owners import make_owner, owner_is_dead
from durable_local.store.base import ACTIVITY_QUEUE, Message
from durable_local.store.sqlite import SqliteStore


def dead_owner() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return make_owner().rsplit(":", 1)[0] + f":{proc.pid}"


def test_owner_liveness() -> None:
    assert not owner_is_dead(make_owner())
    assert owner_is_dead(dead_owner())
    assert not owner_is_dead("host-1234abcd")  # old format / other machine: never declared dead
    assert not owner_is_dead("host-1@elsewhere.example:1")


def test_dead_owners_leases_are_released_and_live_ones_kept(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "d.db")
    now = datetime.now(timezone.utc)
    store.enqueue([
        Message("a", {"EventType": 15}), Message("b", {"EventType": 15}),
        Message("a", {"name": "x"}, queue=ACTIVITY_QUEUE), Message("b", {"name": "y"}, queue=ACTIVITY_QUEUE),
    ])
    dead, live = dead_owner(), make_owner()
    assert len(store.claim_orchestrations(now, 1, 300, dead)) == 1
    assert len(store.claim_activities(now, 1, 300, dead)) == 1
    assert len(store.claim_orchestrations(now, 1, 300, live)) == 1
    assert len(store.claim_activities(now, 1, 300, live)) == 1
    assert store.claim_orchestrations(now, 5, 300, live) == [] and store.claim_activities(now, 5, 300, live) == []
    assert store.release_dead_leases(owner_is_dead) == 2
    again = store.claim_orchestrations(now, 5, 300, live)
    assert [i.instance_id for i in again] == ["a"]
    assert [m.payload["name"] for m in store.claim_activities(now, 5, 300, live)] == ["x"]
    store.close()


async def test_an_activity_is_not_run_twice_when_its_lease_expires_under_a_virtual_clock_jump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (found by R2): leases follow the virtual clock, so a clock jump while an
    activity ran let the same host re-claim and run it again."""
    from collections import Counter

    from durable_local.runtime import invoke
    from durable_local.testing import running_host
    from tests.e2e.conftest import REPO, make_order

    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))
    monkeypatch.setenv("APPROVAL_THRESHOLD_CENTS", "100000")
    calls: Counter[str] = Counter()
    original = invoke.call_activity
    async with running_host(REPO, store="sqlite", data_dir=tmp_path / "d") as h:

        async def slow(info, input_text, run_sync, *args):  # type: ignore[no-untyped-def]
            calls[info.durable_name] += 1
            h.clock_advance(seconds=3600)  # far beyond LEASE_SECONDS while the activity runs
            await asyncio.sleep(0.3)
            return await original(info, input_text, run_sync, *args)

        monkeypatch.setattr(invoke, "call_activity", slow)
        code, _, _ = await h.post("/api/inventory/SKU-LJ", json={"quantity": 5})
        assert code == 202
        await h.wait_until(lambda: h.store.get_instance("@inventoryentity@SKU-LJ"), what="stock")
        await h.post("/api/orders", json=make_order("lj-1", [("SKU-LJ", 1, 100)]))
        status = await h.wait_for("lj-1", timeout=30)
    assert status["output"]["status"] == "completed"
    assert calls["ChargePayment"] == 1 and calls["CreateShipment"] == 1, calls
