"""Regression: a restarted host takes back a crashed host's leases at once (found by R1:
orders stalled for LEASE_SECONDS = 300 s after every kill -9)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

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
