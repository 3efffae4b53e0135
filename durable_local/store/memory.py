"""The in-memory store: the reference model of the store contract.

One lock, plain dicts and dataclasses, JSON copies at the boundary. It is deliberately
simple (linear scans) so that it is obviously right; every other backend is tested against
the same conformance suite. Not durable: everything is gone on ``close``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ._common import (
    decode_continuation,
    encode_continuation,
    json_copy,
    matches,
    new_token,
    normalized,
    utc,
    utc_now,
)
from .base import (
    ACTIVITY_QUEUE,
    ORCHESTRATOR_QUEUE,
    RUNNING_STATES,
    ConflictError,
    InstanceExistsError,
    InstanceQuery,
    InstanceRecord,
    Message,
    OrchestrationWorkItem,
    QueryResult,
    StoreError,
)
from .faultpoints import fault_point


@dataclass
class _Msg:
    id: int
    queue: str
    target: str
    payload: dict[str, Any]
    visible_at: datetime | None
    dequeue_count: int = 0
    lease_token: str | None = None  # activity leases live on the message
    lease_expires: datetime | None = None
    lease_owner: str | None = None

    def out(self) -> Message:
        return Message(
            target=self.target,
            payload=json_copy(self.payload),
            queue=self.queue,
            visible_at=self.visible_at,
            id=self.id,
            dequeue_count=self.dequeue_count,
            lease_token=self.lease_token,
        )


@dataclass
class _Lease:
    token: str
    owner: str
    expires: datetime


class MemoryStore:
    """Reference implementation of ``Store``; see base.py for the semantics."""

    def __init__(self, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._instances: dict[str, InstanceRecord] = {}
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._messages: dict[int, _Msg] = {}  # insertion order == id order
        self._host_values: dict[str, str] = {}
        self._host_locks: dict[str, tuple[str, datetime]] = {}  # name -> (owner, expires)
        self._leases: dict[str, _Lease] = {}  # orchestration leases by instance id
        self._next_id = 1
        self._closed = False

    # -- internals (caller holds the lock, except _prepare) ----------------------------------
    @staticmethod
    def _prepare(messages: Iterable[Message]) -> list[tuple[Message, _Msg]]:
        """Validate and copy before mutating anything, so a bad message writes nothing."""
        out = []
        for m in messages:
            if m.queue not in (ORCHESTRATOR_QUEUE, ACTIVITY_QUEUE):
                raise ValueError(f"unknown queue {m.queue!r}")
            vis = None if m.visible_at is None else utc(m.visible_at)
            out.append((m, _Msg(0, m.queue, m.target, json_copy(m.payload), vis)))
        return out

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    def _add(self, prepared: list[tuple[Message, _Msg]]) -> None:
        for original, m in prepared:
            m.id = original.id = self._next_id
            self._messages[m.id] = m
            self._next_id += 1

    def _drop_instance_data(self, instance_id: str) -> None:
        self._history.pop(instance_id, None)
        self._leases.pop(instance_id, None)
        for mid in [k for k, m in self._messages.items() if m.target == instance_id]:
            del self._messages[mid]

    def _lease_live(self, instance_id: str, now: datetime) -> bool:
        lease = self._leases.get(instance_id)
        return lease is not None and lease.expires > now

    # -- instances -------------------------------------------------------------------------
    def create_instance(self, record: InstanceRecord, start: Message, *, allow_replace: bool = True) -> None:
        prepared = self._prepare([start])
        with self._lock:
            self._check_open()
            old = self._instances.get(record.instance_id)
            if old is not None:
                if old.runtime_status in RUNNING_STATES or not allow_replace:
                    raise InstanceExistsError(
                        f"instance {record.instance_id!r} exists with status {old.runtime_status}"
                    )
                # replacing a terminal instance: stale completions must not reach the new one
                self._drop_instance_data(record.instance_id)
            etag = (old.etag if old else 0) + 1
            fault_point("create_instance.before_commit")
            self._instances[record.instance_id] = replace(normalized(record), etag=etag)
            self._add(prepared)
            record.etag = etag
        fault_point("create_instance.after_commit")

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        with self._lock:
            rec = self._instances.get(instance_id)
            return None if rec is None else replace(rec)

    def get_history(self, instance_id: str) -> list[dict[str, Any]]:
        with self._lock:
            history: list[dict[str, Any]] = json_copy(self._history.get(instance_id, []))
            return history

    def query_instances(self, query: InstanceQuery) -> QueryResult:
        after = decode_continuation(query.continuation)
        with self._lock:
            recs = sorted((r for r in self._instances.values() if matches(query, r)), key=lambda r: r.instance_id)
        if after is not None:
            recs = [r for r in recs if r.instance_id > after]
        if query.top > 0 and len(recs) > query.top:
            page = recs[: query.top]
            return QueryResult([replace(r) for r in page], encode_continuation(page[-1].instance_id))
        return QueryResult([replace(r) for r in recs], None)

    def purge_instance(self, instance_id: str) -> bool:
        with self._lock:
            existed = self._instances.pop(instance_id, None) is not None
            self._drop_instance_data(instance_id)
            return existed

    def purge_instances(self, query: InstanceQuery) -> int:
        with self._lock:
            ids = [i for i, r in self._instances.items() if matches(query, r)]
            for instance_id in ids:
                del self._instances[instance_id]
                self._drop_instance_data(instance_id)
            return len(ids)

    # -- messages --------------------------------------------------------------------------
    def enqueue(self, messages: Iterable[Message]) -> None:
        prepared = self._prepare(messages)
        with self._lock:
            self._check_open()
            fault_point("enqueue.before_commit")
            self._add(prepared)
        fault_point("enqueue.after_commit")

    def next_visible_time(self) -> datetime | None:
        with self._lock:
            best: datetime | None = None
            for m in self._messages.values():
                times = [m.visible_at] if m.visible_at is not None else []
                if m.queue == ACTIVITY_QUEUE and m.lease_expires is not None:
                    times.append(m.lease_expires)
                lease = self._leases.get(m.target) if m.queue == ORCHESTRATOR_QUEUE else None
                if lease is not None:
                    times.append(lease.expires)
                if times and (best is None or max(times) < best):
                    best = max(times)
            return best

    # -- orchestration / entity episodes ---------------------------------------------------
    def claim_orchestrations(
        self, now: datetime, limit: int, lease_seconds: float, owner: str
    ) -> list[OrchestrationWorkItem]:
        now = utc(now)
        expires = now + timedelta(seconds=lease_seconds)
        with self._lock:
            self._check_open()
            visible: dict[str, list[_Msg]] = {}  # dict order: by each target's oldest message
            for m in self._messages.values():
                if m.queue != ORCHESTRATOR_QUEUE or (m.visible_at is not None and m.visible_at > now):
                    continue
                if m.target in visible:
                    visible[m.target].append(m)
                elif len(visible) < limit and not self._lease_live(m.target, now):
                    visible[m.target] = [m]
            items = []
            for instance_id, msgs in visible.items():
                token = new_token()
                self._leases[instance_id] = _Lease(token, owner, expires)
                rec = self._instances.get(instance_id)
                items.append(
                    OrchestrationWorkItem(
                        instance_id=instance_id,
                        instance=None if rec is None else replace(rec),
                        history=json_copy(self._history.get(instance_id, [])),
                        messages=[m.out() for m in msgs],
                        lease_token=token,
                    )
                )
            return items

    def commit_orchestration(
        self,
        item: OrchestrationWorkItem,
        *,
        instance: InstanceRecord | None,
        new_history: Sequence[dict[str, Any]],
        replace_history: bool = False,
        outgoing: Sequence[Message] = (),
        consumed: Sequence[int] | None = None,
    ) -> None:
        if instance is not None and instance.instance_id != item.instance_id:
            raise ValueError(f"record {instance.instance_id!r} does not belong to {item.instance_id!r}")
        # copy before taking the lock: a non-JSON event must fail before anything is written
        events = json_copy(list(new_history))
        prepared = self._prepare(outgoing)
        with self._lock:
            self._check_open()
            lease = self._leases.get(item.instance_id)
            if lease is None or lease.token != item.lease_token:
                raise ConflictError(f"lease on {item.instance_id!r} was lost")
            current = self._instances.get(item.instance_id)
            stored_etag = 0 if current is None else current.etag
            if instance is None:  # consume-only: the messages were all dropped
                self._consume_and_release(item, consumed, prepared)
                return
            if stored_etag != instance.etag:
                raise ConflictError(
                    f"etag mismatch on {item.instance_id!r}: have {instance.etag}, stored {stored_etag}"
                )
            fault_point("commit.before_commit")  # one atomic step here: all or nothing
            if replace_history:
                self._history[item.instance_id] = events
            else:
                self._history.setdefault(item.instance_id, []).extend(events)
            etag = stored_etag + 1
            self._instances[item.instance_id] = replace(normalized(instance), etag=etag)
            self._consume_and_release(item, consumed, prepared)
            instance.etag = etag
        fault_point("commit.after_commit")

    def _consume_and_release(self, item: OrchestrationWorkItem, consumed: Sequence[int] | None, prepared: Any) -> None:
        ids = [m.id for m in item.messages] if consumed is None else list(consumed)
        for mid in ids:
            self._messages.pop(mid, None)  # type: ignore[arg-type]
        self._add(prepared)
        del self._leases[item.instance_id]

    def abandon_orchestration(self, item: OrchestrationWorkItem, delay_seconds: float = 0.0) -> None:
        with self._lock:
            lease = self._leases.get(item.instance_id)
            if lease is None or lease.token != item.lease_token:
                return  # someone else owns the instance now; their claim decides
            del self._leases[item.instance_id]
            visible = self._clock_after(delay_seconds)
            for m in item.messages:
                stored = self._messages.get(m.id)  # type: ignore[arg-type]
                if stored is not None:
                    stored.dequeue_count += 1
                    if visible is not None:
                        stored.visible_at = visible

    def _clock_after(self, delay_seconds: float) -> datetime | None:
        return utc(self._clock()) + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None

    # -- activities ------------------------------------------------------------------------
    def claim_activities(self, now: datetime, limit: int, lease_seconds: float, owner: str) -> list[Message]:
        now = utc(now)
        out: list[Message] = []
        with self._lock:
            self._check_open()
            for m in self._messages.values():
                if len(out) >= limit:
                    break
                if m.queue != ACTIVITY_QUEUE or (m.visible_at is not None and m.visible_at > now):
                    continue
                if m.lease_expires is not None and m.lease_expires > now:
                    continue
                m.lease_token = new_token()
                m.lease_expires = now + timedelta(seconds=lease_seconds)
                m.lease_owner = owner
                out.append(m.out())
        return out

    def complete_activity(self, item: Message, result: Message) -> None:
        prepared = self._prepare([result])
        with self._lock:
            self._check_open()
            stored = self._messages.get(item.id)  # type: ignore[arg-type]
            if stored is None or stored.queue != ACTIVITY_QUEUE:
                return  # completed before (at-least-once delivery): write nothing
            fault_point("complete_activity.before_commit")
            del self._messages[stored.id]
            self._add(prepared)
        fault_point("complete_activity.after_activity_result_persist")

    def abandon_activity(self, item: Message, delay_seconds: float = 0.0) -> None:
        with self._lock:
            stored = self._messages.get(item.id)  # type: ignore[arg-type]
            if stored is None or stored.queue != ACTIVITY_QUEUE:
                return
            if item.lease_token is not None and stored.lease_token != item.lease_token:
                return  # re-claimed by another worker after our lease expired
            stored.lease_token = None
            stored.lease_expires = None
            stored.lease_owner = None
            stored.dequeue_count += 1
            visible = self._clock_after(delay_seconds)
            if visible is not None:
                stored.visible_at = visible

    def release_dead_leases(self, is_dead: Callable[[str], bool]) -> int:
        """Release the orchestration and activity leases of the owners ``is_dead`` selects
        (as the SQLite store does); returns how many leases were freed."""
        with self._lock:
            dead = [iid for iid, lease in self._leases.items() if is_dead(lease.owner)]
            for iid in dead:
                del self._leases[iid]
            n = len(dead)
            for m in self._messages.values():
                if m.lease_owner is not None and is_dead(m.lease_owner):
                    m.lease_token = m.lease_expires = m.lease_owner = None
                    n += 1
        return n

    # -- introspection and repair ------------------------------------------------------------
    def count_messages(self, queue: str | None = None, target: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for m in self._messages.values()
                if (queue is None or m.queue == queue) and (target is None or m.target == target)
            )

    def list_messages(self, target: str) -> list[Message]:
        with self._lock:
            return [m.out() for m in self._messages.values() if m.target == target]

    def set_instance_row(self, record: InstanceRecord) -> None:
        with self._lock:
            old = self._instances.get(record.instance_id)
            etag = (old.etag if old else 0) + 1
            self._instances[record.instance_id] = replace(normalized(record), etag=etag)
            record.etag = etag

    # -- host state ------------------------------------------------------------------------------
    def get_host_value(self, key: str) -> str | None:
        with self._lock:
            return self._host_values.get(key)

    def put_host_value(self, key: str, value: str) -> None:
        with self._lock:
            self._host_values[key] = str(value)

    def acquire_host_lock(self, name: str, owner: str, now: datetime, seconds: float) -> bool:
        now = utc(now)
        with self._lock:
            held = self._host_locks.get(name)
            if held is not None and held[0] != owner and held[1] > now:
                return False
            self._host_locks[name] = (owner, now + timedelta(seconds=seconds))
            return True

    def release_host_lock(self, name: str, owner: str) -> None:
        with self._lock:
            if name in self._host_locks and self._host_locks[name][0] == owner:
                del self._host_locks[name]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._instances.clear()
            self._history.clear()
            self._messages.clear()
            self._leases.clear()
