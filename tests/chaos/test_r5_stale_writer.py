"""R5 — stale writer / optimistic concurrency, on memory, SQLite and Azure (Azurite).

Two dispatcher workers race on one instance, M times (a fresh instance each round):

* worker A claims the instance (short lease), builds its episode ("load"), then is paused
  between load and commit on a :class:`FaultPlan` ``block`` gate;
* meanwhile a client event arrives, A's lease expires and worker B claims the instance (it
  gets the start message *and* the event), builds its episode — terminal in odd rounds — and
  commits; A is released just before B commits so both commits race.

Figures: A's stale commit rejected with ConflictError in M/M rounds and writes nothing (no
history, no row change, no outgoing message); 0 lost updates (every client event is in the
history exactly once, no message left); the status never goes terminal -> non-terminal; the
row's version (etag) strictly increases over every successful write.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from durable_local.store import open_store
from durable_local.store.base import (
    ACTIVITY_QUEUE,
    TERMINAL_STATES,
    ConflictError,
    InstanceRecord,
    Message,
    OrchestrationWorkItem,
    Store,
)
from durable_local.testing.faults import FaultPlan
from tests.store.storekit import T0, FakeClock, record, started

# memory and SQLite always; Azure when DURABLE_STORE_BACKENDS names it (CI does), as tests/e2e
BACKENDS = [
    pytest.param(n, id=n, marks=[pytest.mark.azurite] if n == "azure" else [])
    for n in (x.strip() for x in os.environ.get("DURABLE_STORE_BACKENDS", "memory,sqlite").split(",")) if n
]
SAMPLED_M = {"memory": 100, "sqlite": 100, "azure": 8}
LEASE = 1.0


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Any]:
    opened: list[Store] = []

    def factory(backend: str, clock: FakeClock) -> Store:
        if backend == "azure":
            from tests.azurite import azure_test_store

            s = azure_test_store(clock)
        else:
            s = open_store(backend, tmp_path / backend, clock=clock)
        opened.append(s)
        return s

    yield factory
    for s in opened:
        s.close()


def _ev(kind: int, n: int, **kw: Any) -> dict[str, Any]:
    return {"EventType": kind, "EventId": n, "Timestamp": "2024-01-01T00:00:00.0000000Z", **kw}


def _episode(item: OrchestrationWorkItem, who: str, status: str) -> tuple[InstanceRecord, list[dict[str, Any]],
                                                                        list[Message]]:
    """What a dispatcher would commit: the claimed messages as history + one marker event, the
    row with ``status`` and one outgoing activity message tagged with the worker."""
    base = replace(item.instance) if item.instance is not None else record(item.instance_id)
    base.runtime_status = status
    base.output = who
    events = [dict(m.payload) for m in item.messages] + [_ev(4, len(item.history), Name=f"by-{who}")]
    outgoing = [Message(item.instance_id, {"Name": "act", "by": who}, queue=ACTIVITY_QUEUE)]
    return base, events, outgoing


def _race_round(store: Store, clock: FakeClock, iid: str, rnd: int, rng: random.Random) -> dict[str, Any]:
    now = clock.now
    create_rec = record(iid)
    store.create_instance(create_rec, started(iid))
    etag0 = (store.get_instance(iid) or create_rec).etag
    a_items = [i for i in store.claim_orchestrations(now, 10, LEASE, "dispatcher-A") if i.instance_id == iid]
    assert len(a_items) == 1
    a_item = a_items[0]
    gate = FaultPlan(at=1, action="block", names=["r5.between_load_and_commit"])
    loaded = threading.Event()
    outcome: dict[str, Any] = {}

    def worker_a() -> None:
        rec, events, out = _episode(a_item, "A", "Running")
        loaded.set()
        gate("r5.between_load_and_commit")  # paused here until released
        try:
            store.commit_orchestration(a_item, instance=rec, new_history=events, outgoing=out)
            outcome["a"] = "committed"
        except ConflictError as exc:
            outcome["a"] = exc

    t = threading.Thread(target=worker_a, name=f"dispatcher-A-{rnd}")
    t.start()
    assert loaded.wait(10)
    # a client update arrives while A is paused, then A's lease runs out and B takes over
    store.enqueue([Message(iid, {"EventType": 15, "Name": "update", "Input": str(rnd)})])
    clock.now = now + timedelta(seconds=LEASE + 1)
    b_items = [i for i in store.claim_orchestrations(clock.now, 10, LEASE * 100, "dispatcher-B")
               if i.instance_id == iid]
    assert len(b_items) == 1, "B could not take the expired lease over"
    b_item = b_items[0]
    b_status = "Completed" if rnd % 2 else "Running"
    rec_b, events_b, out_b = _episode(b_item, "B", b_status)
    if rng.random() < 0.5:  # release A first: the two commits race
        gate.disable()
        store.commit_orchestration(b_item, instance=rec_b, new_history=events_b, outgoing=out_b)
    else:  # B first, then the stale writer
        store.commit_orchestration(b_item, instance=rec_b, new_history=events_b, outgoing=out_b)
        gate.disable()
    t.join(10)
    assert not t.is_alive()
    row = store.get_instance(iid)
    assert row is not None
    return {"a": outcome.get("a"), "row": row, "etag0": etag0, "etag_b": rec_b.etag, "b_status": b_status,
            "history": store.get_history(iid), "messages": store.list_messages(iid)}


def run_r5(store: Store, clock: FakeClock, m: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    figures = {"rounds": 0, "rejected": 0, "stale_writes": 0, "lost_updates": 0, "regressions": 0,
               "version_violations": 0}
    problems: list[str] = []
    for rnd in range(m):
        iid = f"r5-{rnd:04d}"
        r = _race_round(store, clock, iid, rnd, rng)
        clock.now = clock.now + timedelta(seconds=5)
        figures["rounds"] += 1
        if isinstance(r["a"], ConflictError):
            figures["rejected"] += 1
        else:
            problems.append(f"{iid}: stale commit of A was not rejected: {r['a']!r}")
        row, hist, msgs = r["row"], r["history"], r["messages"]
        # A wrote nothing: no A marker, no A outgoing message, the row is B's
        if (any(e.get("Name") == "by-A" for e in hist) or any(mm.payload.get("by") == "A" for mm in msgs)
                or row.output != "B"):
            figures["stale_writes"] += 1
            problems.append(f"{iid}: A's stale episode left writes behind: row.output={row.output!r}")
        updates = [e for e in hist if e.get("Name") == "update"]
        orch_left = [mm for mm in msgs if mm.queue != ACTIVITY_QUEUE]
        if len(updates) != 1 or orch_left:
            figures["lost_updates"] += 1
            problems.append(f"{iid}: {len(updates)} updates in history, {len(orch_left)} messages left")
        if r["b_status"] in TERMINAL_STATES and row.runtime_status not in TERMINAL_STATES:
            figures["regressions"] += 1
            problems.append(f"{iid}: status regressed to {row.runtime_status}")
        if not (r["etag0"] < r["etag_b"] == row.etag):
            figures["version_violations"] += 1
            problems.append(f"{iid}: versions {r['etag0']} -> {r['etag_b']} (row {row.etag})")
        # a later (legitimate) write still advances the version; a terminal row stays terminal
        if row.runtime_status not in TERMINAL_STATES:
            store.enqueue([Message(iid, {"EventType": 15, "Name": "late", "Input": "1"})])
            items = [i for i in store.claim_orchestrations(clock.now, 10, LEASE, "dispatcher-A")
                     if i.instance_id == iid]
            rec, events, _ = _episode(items[0], "A2", "Completed")
            before = row.etag
            store.commit_orchestration(items[0], instance=rec, new_history=events)
            after = store.get_instance(iid)
            if after is None or after.etag <= before:
                figures["version_violations"] += 1
        store.purge_instance(iid)
    assert not problems, f"seed={seed}\n" + "\n".join(problems[:20])
    return figures


def _m(backend: str) -> int:
    return int(os.environ.get("R5_M", SAMPLED_M[backend]))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", BACKENDS)
def test_r5_stale_writer_rejected_sampled(make_store: Any, backend: str) -> None:
    seed = random.SystemRandom().randrange(1 << 30)
    clock = FakeClock(T0)
    store = make_store(backend, clock)
    m = _m(backend)
    fig = run_r5(store, clock, m, seed)
    print(f"\nR5 ({backend}): {fig['rejected']}/{m} stale commits rejected, {fig['stale_writes']} stale writes, "
          f"{fig['lost_updates']} lost updates, {fig['regressions']} status regressions, "
          f"{fig['version_violations']} version violations (seed {seed})")
    assert fig == {"rounds": m, "rejected": m, "stale_writes": 0, "lost_updates": 0, "regressions": 0,
                   "version_violations": 0}


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", BACKENDS)
def test_r5_stale_writer_rejected_1000(make_store: Any, backend: str) -> None:
    m = 1000 if backend != "azure" else 100
    seed = random.SystemRandom().randrange(1 << 30)
    clock = FakeClock(T0)
    fig = run_r5(make_store(backend, clock), clock, m, seed)
    print(f"\nR5 ({backend}, M={m}): {fig['rejected']}/{m} stale commits rejected, {fig['stale_writes']} writes, "
          f"{fig['lost_updates']} lost updates (seed {seed})")
    assert fig["rejected"] == m and fig["stale_writes"] == fig["lost_updates"] == fig["regressions"] == 0
