"""The memory store is the reference model: random operation sequences must be observably
identical on memory and SQLite (same ids, rows, histories, messages, errors)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from storekit import T0, FakeClock, hist, raised, record, row_for, started, work

from durable_local.store.base import InstanceQuery, Message, OrchestrationWorkItem, Store
from durable_local.store.memory import MemoryStore
from durable_local.store.sqlite import SqliteStore

IDS = ["a", "b", "@e@k"]
ids = st.sampled_from(IDS)
STATUSES = st.sampled_from(["Pending", "Running", "Completed", "Failed"])


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:
        return type(exc).__name__, None


def _msg(m: Message) -> tuple[Any, ...]:
    return (m.id, m.queue, m.target, m.payload, m.visible_at, m.dequeue_count)


def _item(i: OrchestrationWorkItem) -> tuple[Any, ...]:
    return (i.instance_id, i.instance, i.history, [_msg(m) for m in i.messages])


class Differential(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-diff-"))
        self.clock = FakeClock()
        self.stores: tuple[Store, Store] = (
            MemoryStore(clock=self.clock),
            SqliteStore(self.dir / "d.db", synchronous="NORMAL", clock=self.clock),
        )
        self.now = T0
        self.items: list[tuple[OrchestrationWorkItem, OrchestrationWorkItem]] = []
        self.acts: list[tuple[Message, Message]] = []
        self.n = 0

    def both(self, fn: Any) -> tuple[Any, Any]:
        a, b = (_outcome(lambda s=s: fn(s)) for s in self.stores)
        assert a[0] == b[0], (a, b)
        return a[1], b[1]

    @rule(iid=ids, status=STATUSES, replace_ok=st.booleans())
    def create(self, iid: str, status: str, replace_ok: bool) -> None:
        self.both(
            lambda s: s.create_instance(record(iid, status, created=self.now), started(iid), allow_replace=replace_ok)
        )

    @rule(iid=ids, delay=st.sampled_from([None, 0, 5, 30]), activity=st.booleans())
    def enqueue(self, iid: str, delay: int | None, activity: bool) -> None:
        self.n += 1
        vis = None if delay is None else self.now + timedelta(seconds=delay)
        self.both(lambda s: s.enqueue([(work if activity else raised)(iid, self.n, visible_at=vis)]))

    @rule(seconds=st.sampled_from([1, 5, 20, 40]))
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.clock.now = self.now

    @rule(limit=st.integers(1, 3), lease=st.sampled_from([10, 60]))
    def claim(self, limit: int, lease: int) -> None:
        a, b = self.both(lambda s: s.claim_orchestrations(self.now, limit, lease, "w"))
        assert [_item(i) for i in a] == [_item(i) for i in b]
        self.items += list(zip(a, b, strict=True))

    @precondition(lambda self: self.items)
    @rule(data=st.data(), stale=st.booleans(), n=st.integers(0, 2), replace_history=st.booleans())
    def commit(self, data: st.DataObject, stale: bool, n: int, replace_history: bool) -> None:
        pair = self.items.pop(data.draw(st.integers(0, len(self.items) - 1)))
        self.n += 1
        k = self.n

        def go(s: Store) -> int:
            item = pair[0] if s is self.stores[0] else pair[1]
            inst = row_for(item, "Running", last_updated_time=self.now)
            inst = replace(inst, etag=inst.etag + 7) if stale else inst
            events = [hist(k * 10 + j) for j in range(n)]
            out = [work(item.instance_id, k)]
            s.commit_orchestration(
                item, instance=inst, new_history=events, replace_history=replace_history, outgoing=out
            )
            return inst.etag

        self.both(go)

    @precondition(lambda self: self.items)
    @rule(data=st.data(), delay=st.sampled_from([0, 10]))
    def abandon(self, data: st.DataObject, delay: int) -> None:
        a, b = self.items.pop(data.draw(st.integers(0, len(self.items) - 1)))
        self.both(lambda s: s.abandon_orchestration(a if s is self.stores[0] else b, delay))

    @rule(limit=st.integers(1, 3))
    def claim_activities(self, limit: int) -> None:
        a, b = self.both(lambda s: s.claim_activities(self.now, limit, 15, "w"))
        assert [_msg(m) for m in a] == [_msg(m) for m in b]
        self.acts += list(zip(a, b, strict=True))

    @precondition(lambda self: self.acts)
    @rule(data=st.data(), complete=st.booleans())
    def finish_activity(self, data: st.DataObject, complete: bool) -> None:
        a, b = self.acts[data.draw(st.integers(0, len(self.acts) - 1))]  # kept: duplicates allowed
        if complete:
            self.both(lambda s: s.complete_activity(a if s is self.stores[0] else b, raised(a.target, -1)))
        else:
            self.both(lambda s: s.abandon_activity(a if s is self.stores[0] else b, 3))

    @rule(iid=ids)
    def purge(self, iid: str) -> None:
        a, b = self.both(lambda s: s.purge_instance(iid))
        assert a == b

    @invariant()
    def observably_equal(self) -> None:
        mem, sql = self.stores
        for iid in IDS:
            assert mem.get_instance(iid) == sql.get_instance(iid)
            assert mem.get_history(iid) == sql.get_history(iid)
            assert [_msg(m) for m in mem.list_messages(iid)] == [_msg(m) for m in sql.list_messages(iid)]
        assert mem.next_visible_time() == sql.next_visible_time()
        for entities in (False, True):
            q = InstanceQuery(entities=entities, top=0)
            assert mem.query_instances(q) == sql.query_instances(q)

    def teardown(self) -> None:
        for s in self.stores:
            s.close()
        shutil.rmtree(self.dir, ignore_errors=True)


Differential.TestCase.settings = settings(
    max_examples=30, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_memory_and_sqlite_agree_on_random_operation_sequences = Differential.TestCase
