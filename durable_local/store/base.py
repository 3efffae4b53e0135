"""The store contract every backend implements (memory, SQLite, Azure Storage).

The model follows DurableTask: an *instance* row per orchestration or entity (entities are
instances whose id is ``@name@key``), the *history* of the instance's current execution, and
two message queues: ``orchestrator`` (history events addressed to an instance: starts,
completions, timers, events, entity requests) and ``activity`` (work items).

All methods are synchronous; the runtime calls them from worker threads or the event loop.
Atomicity is the point of the API: ``commit_orchestration`` writes new history, the updated
instance row, outgoing messages and the deletion of consumed messages in one transaction,
guarded by the instance's ``etag`` (optimistic concurrency).

Conventions shared by all backends (tests/store checks them):

- Datetimes may be passed naive (taken as UTC) or aware; they come back aware UTC.
- Payloads, inputs and history events must be JSON-able; the store keeps its own copy (the
  memory store round-trips them through JSON too, so no backend aliases a caller's dict).
- ``enqueue`` / ``create_instance`` / ``commit_orchestration`` write the assigned ``id`` back
  into the caller's ``Message`` objects and the new ``etag`` into the caller's record.
- Leases are enforced by the backend itself (in SQL for SQLite), never only in process memory,
  so several processes may share one store.
- Backends accept ``clock: Callable[[], datetime]`` in their constructor; it is used only where
  the API has no ``now`` argument (the delays of ``abandon_*``), so a virtual clock can drive them.
- Extras beyond the DurableTask core (introspection and repair): ``count_messages``,
  ``list_messages`` and ``set_instance_row``; host state for triggers (what the Functions
  host keeps in its storage account): a small key/value map and named locks with expiry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

ORCHESTRATOR_QUEUE = "orchestrator"
ACTIVITY_QUEUE = "activity"

RUNNING_STATES = frozenset({"Pending", "Running", "Suspended", "ContinuedAsNew"})
TERMINAL_STATES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


class StoreError(Exception):
    """Base class of store errors; ``code`` is stable and machine-readable."""

    code = "store_error"


class ConflictError(StoreError):
    """A commit lost an optimistic-concurrency race (stale etag or lease): nothing was written."""

    code = "conflict"


class InstanceExistsError(StoreError):
    """``create_instance`` found a running instance with the same id."""

    code = "instance_exists"


@dataclass
class InstanceRecord:
    """One row per orchestration instance or entity (``instance_id`` starting with ``@``)."""

    instance_id: str
    name: str
    runtime_status: str  # Pending | Running | Completed | Failed | Terminated | Suspended | ...
    created_time: datetime
    last_updated_time: datetime
    execution_id: str = ""
    version: str = ""
    input: str | None = None  # ExecutionStarted.Input as stored (JSON text)
    output: str | None = None  # JSON text, or the raw failure / terminate reason
    custom_status: str | None = None  # JSON text
    parent_instance_id: str | None = None
    # entities only: the serialized state text and whether the entity exists
    entity_state: str | None = None
    entity_exists: bool = False
    # bumped by the store on every successful write of the row; 0 = never written
    etag: int = 0


@dataclass
class Message:
    """A queued message. ``payload`` is a history event dict (orchestrator queue) or an
    activity work item dict (activity queue). ``visible_at`` delays delivery (timers, retries)."""

    target: str  # instance id (orchestrator queue) or the owning instance id (activity queue)
    payload: dict[str, Any]
    queue: str = ORCHESTRATOR_QUEUE
    visible_at: datetime | None = None
    id: int | None = None  # assigned by the store on enqueue
    dequeue_count: int = 0
    # set by claim_activities (a token per claimed message); abandon_activity only acts while
    # the stored lease still carries it, complete_activity does not need it (idempotent)
    lease_token: str | None = None


@dataclass
class OrchestrationWorkItem:
    """Everything a dispatcher needs for one episode of one instance, claimed under a lease."""

    instance_id: str
    instance: InstanceRecord | None  # None if the first message creates it
    history: list[dict[str, Any]]  # current execution, oldest first
    messages: list[Message]  # visible messages for the instance, in enqueue order
    lease_token: str


@dataclass
class InstanceQuery:
    """Filters for listing/purging instances (all optional). Results are ordered by
    ``instance_id``; ``created_from`` / ``created_to`` are inclusive."""

    runtime_status: Sequence[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    instance_id_prefix: str | None = None
    entities: bool = False  # False: orchestrations only; True: entities only
    top: int = 100  # page size; <= 0 means no limit (purge_instances ignores paging)
    continuation: str | None = None  # opaque token from a previous QueryResult


@dataclass
class QueryResult:
    instances: list[InstanceRecord] = field(default_factory=list)
    continuation: str | None = None


@runtime_checkable
class Store(Protocol):
    """The storage contract. Every backend passes tests/store (the conformance suite)."""

    # -- instances -------------------------------------------------------------------------
    def create_instance(self, record: InstanceRecord, start: Message, *, allow_replace: bool = True) -> None:
        """Create (or replace a non-running) instance row and enqueue its ExecutionStarted
        message atomically. Raises InstanceExistsError if an instance with the id is in a
        RUNNING_STATES status (or exists at all when ``allow_replace`` is False). Replacing
        clears the old history."""

    def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    def get_history(self, instance_id: str) -> list[dict[str, Any]]: ...

    def query_instances(self, query: InstanceQuery) -> QueryResult: ...

    def purge_instance(self, instance_id: str) -> bool:
        """Delete row, history and pending messages; False if unknown."""

    def purge_instances(self, query: InstanceQuery) -> int:
        """Purge every instance matching the filters (``top``/``continuation`` ignored), in
        any status: callers pass ``runtime_status`` to keep running ones. Returns the count."""

    # -- messages --------------------------------------------------------------------------
    def enqueue(self, messages: Iterable[Message]) -> None:
        """Append messages (client events, signals, terminate...) in one transaction."""

    def next_visible_time(self) -> datetime | None:
        """Earliest ``visible_at`` of any unclaimed message in any queue (None if none
        delayed), so the runtime can sleep until the next timer without polling.

        A message blocked by a lease (its activity lease, or its instance's orchestration
        lease) counts at ``max(visible_at, lease expiry)``, so crashed workers' items are
        retried on time. Messages with no delay and no lease are not counted (they are
        claimable now). The result may be in the past: claim now."""

    # -- orchestration / entity episodes -------------------------------------------------------
    def claim_orchestrations(
        self, now: datetime, limit: int, lease_seconds: float, owner: str
    ) -> list[OrchestrationWorkItem]:
        """Claim up to ``limit`` instances that have messages visible at ``now`` and no live
        lease; each work item carries ALL visible messages of its instance (coalescing).
        Instances are picked by their oldest visible message; an expired lease is taken over
        (the old holder's commit then fails). An instance need not have a row yet."""

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
        """In one transaction: check ``instance.etag`` equals the stored etag (0 = row must
        not exist) and the lease is still ours, else raise ConflictError and write nothing;
        append ``new_history`` (or replace the whole history when ``replace_history``);
        upsert the instance row (etag bumped, written back into ``instance``); enqueue
        ``outgoing``; delete the ``consumed`` message ids (default: all of item.messages);
        release the lease. ``instance=None`` means consume-only: no row or history is
        written (the engine dropped every message, e.g. events for a purged id); the lease is
        still checked, ``consumed`` deleted and ``outgoing`` enqueued."""

    def abandon_orchestration(self, item: OrchestrationWorkItem, delay_seconds: float = 0.0) -> None:
        """Release the lease without consuming; messages become visible after the delay and
        their dequeue_count is incremented. A no-op if the lease is no longer ours."""

    # -- activities ------------------------------------------------------------------------
    def claim_activities(self, now: datetime, limit: int, lease_seconds: float, owner: str) -> list[Message]:
        """Lease up to ``limit`` visible, unleased (or lease-expired) activity messages, oldest
        first; each comes back with its own ``lease_token``."""

    def complete_activity(self, item: Message, result: Message) -> None:
        """Delete the work item and enqueue its result message atomically (idempotent: a
        second completion of an already deleted item writes nothing)."""

    def abandon_activity(self, item: Message, delay_seconds: float = 0.0) -> None:
        """Release the item's lease, increment dequeue_count, make it visible after the
        delay. A no-op if the item is gone or was re-claimed under another token."""

    # -- introspection and repair (tests, dashboard, admin tools) -----------------------------
    def count_messages(self, queue: str | None = None, target: str | None = None) -> int:
        """Number of stored messages (claimed or not), optionally by queue and/or target."""

    def list_messages(self, target: str) -> list[Message]:
        """All stored messages for ``target`` (both queues, claimed or not), in id order."""

    def set_instance_row(self, record: InstanceRecord) -> None:
        """Upsert the row unconditionally (no etag or lease check; the etag is still bumped
        and written back). For repairs and fixtures only, never on the hot path."""

    # -- host state (durable_local/triggers: timer schedule status, singleton locks) -----------
    def get_host_value(self, key: str) -> str | None:
        """The text stored under ``key`` by ``put_host_value``, or None."""

    def put_host_value(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (last writer wins)."""

    def acquire_host_lock(self, name: str, owner: str, now: datetime, seconds: float) -> bool:
        """Take the lock ``name`` for ``owner`` until ``now + seconds`` if it is free, expired
        or already ``owner``'s (a renewal); False if another owner holds it. Atomic across
        processes sharing the store."""

    def release_host_lock(self, name: str, owner: str) -> None:
        """Free the lock if ``owner`` holds it (a no-op otherwise)."""

    def close(self) -> None: ...
