"""Builders and small helpers shared by the store conformance tests.

All times are relative to a fixed ``T0``: the stores take ``now`` as an argument, so the
tests never depend on the wall clock (except the abandon delays, driven by FakeClock).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from durable_local.store.base import (
    ACTIVITY_QUEUE,
    InstanceRecord,
    Message,
    OrchestrationWorkItem,
    Store,
)

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
LEASE = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class FakeClock:
    """The ``clock`` the stores use for abandon delays; tests move it by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def record(instance_id: str, status: str = "Pending", *, created: datetime = T0, **kw: Any) -> InstanceRecord:
    return InstanceRecord(
        instance_id=instance_id,
        name=kw.pop("name", "orch"),
        runtime_status=status,
        created_time=created,
        last_updated_time=created,
        **kw,
    )


def started(instance_id: str, name: str = "orch") -> Message:
    return Message(target=instance_id, payload={"EventType": 0, "Name": name, "Input": '{"n": 1}'})


def raised(instance_id: str, n: int, *, visible_at: datetime | None = None) -> Message:
    return Message(
        target=instance_id, payload={"EventType": 15, "Name": f"e{n}", "Input": str(n)}, visible_at=visible_at
    )


def work(instance_id: str, n: int, *, visible_at: datetime | None = None) -> Message:
    return Message(
        target=instance_id, payload={"Name": "act", "TaskId": n}, queue=ACTIVITY_QUEUE, visible_at=visible_at
    )


def hist(n: int) -> dict[str, Any]:
    return {"EventType": 4, "EventId": n, "Name": "act", "Timestamp": "2024-01-01T00:00:00.0000000Z"}


def create(store: Store, instance_id: str, status: str = "Pending", **kw: Any) -> InstanceRecord:
    rec = record(instance_id, status, **kw)
    store.create_instance(rec, started(instance_id))
    return rec


def claim(store: Store, now: datetime = T0, limit: int = 100, lease: float = LEASE) -> list[OrchestrationWorkItem]:
    return store.claim_orchestrations(now, limit, lease, "owner-1")


def claim_one(store: Store, now: datetime = T0, lease: float = LEASE) -> OrchestrationWorkItem:
    items = claim(store, now, lease=lease)
    assert len(items) == 1, [i.instance_id for i in items]
    return items[0]


def row_for(item: OrchestrationWorkItem, status: str = "Running", **kw: Any) -> InstanceRecord:
    """The record an engine would write after the episode (new row if the item had none)."""
    # a copy: the store writes the new etag back into it, item.instance must keep the old one
    base = replace(item.instance) if item.instance else record(item.instance_id, name=kw.pop("name", "orch"))
    base.runtime_status = status
    for key, value in kw.items():
        setattr(base, key, value)
    return base


def episode(store: Store, item: OrchestrationWorkItem, events: list[dict[str, Any]], **kw: Any) -> InstanceRecord:
    inst = row_for(item, kw.pop("status", "Running"))
    store.commit_orchestration(item, instance=inst, new_history=events, **kw)
    return inst


def payloads(messages: list[Message]) -> list[dict[str, Any]]:
    return [m.payload for m in messages]


def snapshot(store: Store, instance_id: str) -> tuple[Any, ...]:
    """Everything observable about one instance, to assert that a failed write wrote nothing."""
    msgs = [(m.id, m.queue, m.payload, m.visible_at, m.dequeue_count) for m in store.list_messages(instance_id)]
    return store.get_instance(instance_id), store.get_history(instance_id), msgs
