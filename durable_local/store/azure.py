"""The Azure Storage backend (``--store azure``): tables, queues and blobs laid out like
DurableTask.AzureStorage, so Durable Functions Monitor and Storage Explorer can read it.

Layout and codecs: azure_codec.py. Sentinel protocol (atomic commits, leases, outbox):
azure_tables.py. Queue receipts and the held-message registry: azure_queues.py. Instances:
azure_instances.py; episodes: azure_episodes.py; activities: azure_activities.py; connection
strings and errors: azure_conn.py; HTTP (connection pools, transactions, call counts):
azure_http.py and azure_loopback.py.

How the contract maps onto Azure Storage:

- Messages live in queues: ``{hub}-control-NN`` (orchestrator queue, partition = FNV-1a-32
  of the instance id modulo ``partition_count``) and ``{hub}-workitems`` (activities). The
  contract's int message ids are ours, carried in the message body; internally each maps to
  (queue, message id, pop receipt). Delayed messages are sent with a visibility timeout
  (capped at the service's 7 days: a longer timer surfaces early, is found not due from its
  ``VisibleAt`` and is hidden again, until it is due).
- Activity leases are visibility timeouts. Orchestration leases are per instance, on the
  History table's sentinel row (written with If-Match), and the instance's queue messages
  are kept invisible while it is leased.
- ``commit_orchestration`` is one entity-group transaction on the instance's History
  partition (rows + sentinel with the instance record, If-Match the claim's ETag): a stale
  writer gets 412 -> ConflictError and has written nothing. Only then are the outgoing
  messages sent and the consumed ones deleted (queues are not transactional): a crash in
  between re-sends the outbox / re-delivers the consumed messages at the next claim, i.e.
  at-least-once delivery; the engine drops duplicates.
- ``next_visible_time``: exact for the messages this process knows about (it sent or
  received them); with ``poll_interval`` (default 1 s) it never sleeps longer than that, so
  work from other processes, or left hidden by a previous run, is picked up: the Azure
  backend polls. ``poll_interval=None`` gives the exact contract (one process per hub; tests).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from ._common import json_copy, utc, utc_now
from .azure_activities import ActivityMixin
from .azure_codec import (
    LargeValues,
    columns_record,
    queue_prefix,
    table_prefix,
)
from .azure_conn import DEFAULT_HUB, DEV_STORAGE, endpoint_of, expand_connection_string, storage_errors
from .azure_episodes import Claim, EpisodeMixin
from .azure_hoststate import AzureHostState
from .azure_http import QUEUE_BLOB_RETRY, RETRY_TOTAL, CallCounter, http_session, is_loopback
from .azure_instances import InstanceMixin
from .azure_queues import Held, Queues
from .azure_tables import Tables
from .base import (
    ACTIVITY_QUEUE,
    ORCHESTRATOR_QUEUE,
    InstanceRecord,
    Message,
    StoreError,
)

__all__ = ["DEFAULT_HUB", "DEV_STORAGE", "AzureStore", "expand_connection_string", "open_azure_store"]


class AzureStore(InstanceMixin, EpisodeMixin, ActivityMixin, AzureHostState):
    """``Store`` on Azure Storage (or Azurite); see the module docstring for the mapping.
    Instances are in azure_instances.py, episodes (claim / commit / abandon) in
    azure_episodes.py, activities in azure_activities.py, host state for triggers in
    azure_hoststate.py."""

    def __init__(
        self,
        connection_string: str | None = None,
        hub_name: str = DEFAULT_HUB,
        partition_count: int = 4,
        *,
        data_dir: Path | str | None = None,  # unused: accepted so open_store can pass it
        clock: Callable[[], datetime] | None = None,
        poll_interval: float | None = 1.0,
        timeout: float = 5.0,
        read_timeout: float = 30.0,
        delete_hub_on_close: bool = False,
    ) -> None:
        conn = connection_string or os.environ.get("AzureWebJobsStorage", "")  # noqa: SIM112 (the Functions name)
        if not conn.strip():
            raise StoreError("the Azure store needs AzureWebJobsStorage (UseDevelopmentStorage=true for Azurite)")
        if not 1 <= partition_count <= 16:
            raise StoreError(f"partition_count must be 1..16, not {partition_count}")
        conn = expand_connection_string(conn)
        self.hub_name = hub_name
        self.partition_count = partition_count
        self._clock = clock
        self._offset = timedelta(0)  # callers' clock minus wall clock, learned from `now`
        self.poll_interval = poll_interval
        self._delete_on_close = delete_hub_on_close
        # claims of each kind serialize (they hand out held messages); commits don't need to:
        # the instance lease makes them exclusive. Scans (purge, list) take both.
        self._claim_lock = threading.RLock()
        self._act_lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="azure-store")
        self._closed = False
        self._claims: dict[str, Claim] = {}  # by token
        self._leases: dict[str, Claim] = {}  # latest claim per instance id
        # every storage call is bounded: ``timeout`` to connect, ``read_timeout`` for a reply
        # (a stalled response fails the call; the SDK retries it, then the caller does)
        timeouts = {"connection_timeout": timeout, "read_timeout": max(timeout, read_timeout)}
        loopback = is_loopback(endpoint_of(conn))
        self._calls = CallCounter()

        def opts(service: str) -> dict[str, Any]:  # a transport (connection pool) per service client
            session = http_session(loopback, self._calls, service)
            return {"transport": RequestsTransport(session=session, **timeouts), "retry_total": RETRY_TOTAL}

        try:
            tables = TableServiceClient.from_connection_string(conn, **opts("table"))
            queues = QueueServiceClient.from_connection_string(conn, **opts("queue"), **QUEUE_BLOB_RETRY)
            blobs = BlobServiceClient.from_connection_string(conn, **opts("blob"), **QUEUE_BLOB_RETRY)
        except (ValueError, AzureError) as exc:
            raise StoreError(f"invalid AzureWebJobsStorage connection string: {exc}") from None
        self._services = (tables, queues, blobs)
        tprefix, qprefix = table_prefix(hub_name), queue_prefix(hub_name)
        self._container = blobs.get_container_client(f"{qprefix}-largemessages")
        self.large = LargeValues(self._upload, self._download)
        self.tables = Tables(
            tables.get_table_client(f"{tprefix}History"), tables.get_table_client(f"{tprefix}Instances"), self.large
        )
        self.queues = Queues(queues, qprefix, partition_count, self.large)
        with self._errors(f"open the task hub at {endpoint_of(conn)}"):
            self._create_resources()

    # -- plumbing ------------------------------------------------------------------------------
    def _errors(self, doing: str) -> AbstractContextManager[None]:
        return storage_errors(doing)

    def _create_resources(self) -> None:
        # the first call fails fast (no retries) when the account is unreachable or the key is wrong
        for i, table in enumerate((self.tables.history, self.tables.instances)):
            try:
                table.create_table(**({"retry_total": 0} if i == 0 else {}))
            except ResourceExistsError:
                pass
        self.queues.create()
        try:
            self._container.create_container()
        except ResourceExistsError:
            pass

    def stats(self) -> dict[str, int]:
        """Storage calls this store made so far, by kind (``{"table batch": 3, ...}``), every
        HTTP attempt counted; the difference of two snapshots is what happened in between."""
        return self._calls.snapshot()

    def _upload(self, name: str, data: bytes) -> None:
        self._container.upload_blob(name, data, overwrite=True)

    def _download(self, name: str) -> bytes:
        return self._container.download_blob(name).readall()

    @contextmanager
    def _scan_lock(self) -> Iterator[None]:
        with self._claim_lock, self._act_lock:
            yield

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    def _now(self) -> datetime:
        """The callers' clock: the injected one, else wall time shifted by the offset seen in
        the ``now`` arguments (so a virtual clock's hub still polls at the right times)."""
        return utc(self._clock()) if self._clock is not None else utc_now() + self._offset

    def _observe(self, now: datetime) -> datetime:
        now = utc(now)
        self._offset = now - utc_now()
        return now

    def _lazy_receive(self) -> float | None:
        """How long a claim may skip receiving from a queue found drained (see
        ``Queues.receive``): half the poll interval, so other processes' work still shows
        within about one poll; ``poll_interval=None`` (one process, exact) always receives."""
        return None if self.poll_interval is None else self.poll_interval / 2

    def _delay(self, visible_at: datetime | None) -> float:
        return 0.0 if visible_at is None else (utc(visible_at) - self._now()).total_seconds()

    def _send(self, messages: Iterable[Message]) -> None:
        """Assign ids and send; ids are written back into the callers' messages."""
        for m in messages:
            copy = Message(m.target, json_copy(m.payload), m.queue, m.visible_at and utc(m.visible_at))
            copy.id = self.queues.new_id()
            self.queues.send(copy, self._delay(copy.visible_at))
            m.id = copy.id

    @staticmethod
    def _validate(messages: Iterable[Message]) -> list[Message]:
        out = list(messages)
        for m in out:
            if m.queue not in (ORCHESTRATOR_QUEUE, ACTIVITY_QUEUE):
                raise ValueError(f"unknown queue {m.queue!r}")
            json_copy(m.payload)
        return out

    def _record(self, instance_id: str, cols: dict[str, Any] | None) -> InstanceRecord | None:
        return None if cols is None else columns_record(instance_id, cols, self.large)

    # -- messages --------------------------------------------------------------------------------
    def enqueue(self, messages: Iterable[Message]) -> None:
        """Sends one by one: queues have no multi-message transaction."""
        msgs = self._validate(messages)
        with self._errors("enqueue messages"):
            self._check_open()
            self._send(msgs)

    def next_visible_time(self) -> datetime | None:
        best: datetime | None = None  # no lock: a snapshot of the registry is enough
        for h in list(self.queues.held.values()):
            times = [h.msg.visible_at] if h.msg.visible_at is not None else []
            if h.msg.queue == ACTIVITY_QUEUE and h.lease_expires is not None:
                times.append(h.lease_expires)
            claim = self._leases.get(h.msg.target) if h.msg.queue == ORCHESTRATOR_QUEUE else None
            if claim is not None:
                times.append(claim.expires)
            if times and (best is None or max(times) < best):
                best = max(times)
        if self.poll_interval is not None:
            poll = self._now() + timedelta(seconds=self.poll_interval)
            best = poll if best is None else min(best, poll)
        return best

    # -- introspection and repair ------------------------------------------------------------------
    def count_messages(self, queue: str | None = None, target: str | None = None) -> int:
        """Without ``target``: the queues' approximate counts (exact on Azurite)."""
        with self._scan_lock(), self._errors("count messages"):
            if target is not None:
                return sum(1 for m in self.list_messages(target) if queue is None or m.queue == queue)
            names = self.queues.names()
            if queue is not None:
                names = [self.queues.workitems] if queue == ACTIVITY_QUEUE else self.queues.control
            return sum(self.queues.approximate_count(n) for n in names)

    def list_messages(self, target: str) -> list[Message]:
        """Held messages (including invisible ones this process knows) plus visible ones."""
        with self._scan_lock(), self._errors(f"list the messages of {target!r}"):
            found = {h.id: h.out() for h in list(self.queues.held.values()) if h.msg.target == target}
            for m in self.queues.visible_for(target):
                found.setdefault(m.id, m)  # type: ignore[arg-type]
            return [found[i] for i in sorted(found)]

    def delete_hub(self) -> None:
        """Delete the hub's tables, queues and blobs (tests, ``reset``)."""
        with self._errors(f"delete task hub {self.hub_name!r}"):
            for table in (self.tables.history, self.tables.instances):
                try:
                    table.delete_table()
                except ResourceNotFoundError:
                    pass
            self.queues.delete_all()
            self.delete_host_state()
            try:
                self._container.delete_container()
            except ResourceNotFoundError:
                pass

    def _show_held(self) -> None:
        """Make the messages this process hid for itself (its own sends, its receives) and did
        not finish visible again, or hidden only until they are due, so that the host started
        next takes them at once instead of after the lease. Best effort: one that fails shows
        when its visibility timeout runs out."""
        now = time.monotonic()
        shows: list[Callable[[], None]] = []
        for held in list(self.queues.held.values()):
            due_in = max(0.0, self._delay(held.msg.visible_at))
            if held.hidden_until - now > due_in + 1:
                shows.append(partial(self._show, held, due_in))
        self._run_all(shows)

    def _show(self, held: Held, hide: float) -> None:
        with contextlib.suppress(AzureError):
            self.queues.update(held, hide)

    def close(self) -> None:
        with self._scan_lock():
            if self._closed:
                return
            self._closed = True
            try:
                if self._delete_on_close:
                    self.delete_hub()
                else:
                    self._show_held()
            finally:
                self._pool.shutdown(wait=False)
                self.queues.close()
                for svc in self._services:
                    svc.close()


def open_azure_store(data_dir: Path | str | None = None, hub_name: str = DEFAULT_HUB, **opts: Any) -> AzureStore:
    """The CLI/host entry point: the connection string comes from ``AzureWebJobsStorage``
    (unless ``connection_string`` is given)."""
    return AzureStore(hub_name=hub_name, data_dir=data_dir, **opts)
