"""Azure backend: instances (create, read, query, purge, repair) on the sentinel protocol.

A mixin of ``AzureStore`` (azure.py), split out to keep modules small. An instance exists once
its sentinel row (azure_tables.py) holds a record; the Instances row is projected from it.
Creating one writes the sentinel first (a plain insert: a new instance costs no read), then
projects the row and sends the start message; replacing a terminal instance also deletes its
old history, leases and messages.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError

from ._common import decode_continuation, encode_continuation, matches, new_token, utc
from .azure_codec import blob_prefix, columns_record, id_of, key_of, message_body, record_columns, row_event
from .azure_queues import Queues
from .azure_tables import Sentinel, Stale, Tables
from .base import (
    ORCHESTRATOR_QUEUE,
    RUNNING_STATES,
    ConflictError,
    InstanceExistsError,
    InstanceQuery,
    InstanceRecord,
    Message,
    QueryResult,
)

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from .azure_codec import LargeValues
    from .azure_episodes import Claim

# sends of a new instance's start message before the create gives up (see _finish_create)
CREATE_ATTEMPTS = 3


class InstanceMixin:
    # provided by AzureStore
    _claims: dict[str, Claim]
    _leases: dict[str, Claim]
    _container: ContainerClient
    queues: Queues
    tables: Tables
    large: LargeValues
    _errors: Callable[[str], AbstractContextManager[None]]
    _check_open: Callable[[], None]
    _scan_lock: Callable[[], AbstractContextManager[None]]
    _delay: Callable[[datetime | None], float]
    _validate: Callable[[list[Message]], list[Message]]
    _record: Callable[[str, dict[str, Any] | None], InstanceRecord | None]
    _run: Callable[[list[Callable[[], object]]], None]

    def create_instance(self, record: InstanceRecord, start: Message, *, allow_replace: bool = True) -> None:
        (start_copy,) = self._validate([start])
        key = key_of(record.instance_id)
        # the start message also goes into the sentinel's outbox (not pending): if its send is
        # lost, a retried start finds the instance and sends it again (see below)
        start_copy.id = self.queues.new_id()
        start_body = message_body(start_copy, start_copy.id, 0, self.large)
        with self._errors(f"create instance {record.instance_id!r}"):
            self._check_open()
            fresh = True  # first try a plain insert: a new instance costs no read
            for _ in range(10):
                s = Sentinel(key) if fresh else self.tables.read_sentinel(key)
                old = self._record(record.instance_id, s.record)
                if old is not None and (old.runtime_status in RUNNING_STATES or not allow_replace):
                    self._resend_lost_start(s, old)
                    raise InstanceExistsError(
                        f"instance {record.instance_id!r} exists with status {old.runtime_status}"
                    )
                counter = s.counter + 1
                cols = record_columns(record, counter, self.large, new_token())
                new = replace(s, counter=counter, record=cols, execution_id=record.execution_id, outbox=[start_body])
                if old is not None:  # replacing a terminal instance: a new, empty history, no lease
                    new = replace(new, history_count=0, lease_token="", lease_owner="", lease_expires=0)
                new.outbox_pending = False
                self.tables.forget(key)
                try:
                    written = self.tables.write_sentinel(new, f"{key.replace('%', '_')}/start-{start_copy.id}.json.gz")
                    break
                except Stale:
                    fresh = False
                    continue  # it exists, or a racing writer: look again (it may now be running)
            else:
                raise ConflictError(f"instance {record.instance_id!r} kept changing during create")
            if old is not None:
                self.tables.delete_rows(key, 0)
                with self._scan_lock():
                    self._drop_claims(record.instance_id)
                    self._purge_messages(record.instance_id)  # stale completions must not reach the new one
            if written.history_count == 0:
                self.tables.remember(written, [])  # the first claim needs no read
            self._finish_create(key, cols, counter, fresh, start_copy, undo=old is None)
            start.id = start_copy.id
            record.etag = counter

    def _resend_lost_start(self, s: Sentinel, old: InstanceRecord) -> None:
        """A start of an instance that exists but never ran (Pending, no history, never leased)
        may be the caller retrying after a lost reply, its start message lost with it: send the
        start again from the sentinel. If it was not lost, the engine drops the duplicate."""
        if old.runtime_status == "Pending" and s.history_count == 0 and not s.lease_token and s.outbox:
            with contextlib.suppress(AzureError):
                self.queues.resend(s.outbox[0], self._delay)

    def _finish_create(self, key: str, cols: dict[str, Any], counter: int, fresh: bool, start: Message,
                       *, undo: bool) -> None:  # fmt: skip
        """Project the row and send the ExecutionStarted, after the sentinel made the instance
        exist. Retried: a row that exists without its start message would answer every retry
        of the start with 409 and never run. If it keeps failing, a new instance is deleted
        again (best effort) so that the caller's retry can create it. A start message sent
        twice is harmless: the engine drops a duplicate ExecutionStarted."""
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                self._run([
                    lambda: self.tables.project(key, cols, counter, fresh=fresh),
                    lambda: self.queues.send(start, self._delay(start.visible_at and utc(start.visible_at))),
                ])  # fmt: skip
                return
            except AzureError:
                if attempt == CREATE_ATTEMPTS:
                    if undo:
                        with contextlib.suppress(AzureError):
                            self.tables.forget(key)
                            self.tables.delete_partition(key)
                            self.tables.delete_row(key)
                    raise
                time.sleep(0.05 * attempt)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        with self._errors(f"read instance {instance_id!r}"):  # the sentinel: the row may lag (azure_tables.py)
            return self._record(instance_id, self.tables.read_record(key_of(instance_id)))

    def get_history(self, instance_id: str) -> list[dict[str, Any]]:
        key = key_of(instance_id)
        with self._errors(f"read the history of {instance_id!r}"):
            s = self.tables.read_sentinel(key)
            return [row_event(r, self.large) for r in self.tables.read_rows(key, s.history_count)]

    def _all_records(self, query: InstanceQuery | None = None) -> list[tuple[InstanceRecord, dict[str, Any]]]:
        """Every Instances row (the query's statuses only, filtered by the service), decoded
        without touching blobs (for filtering)."""
        out = []
        for row in self.tables.list_rows(None if query is None else query.runtime_status):
            light = {k: v for k, v in row.items() if not k.endswith("BlobName")}
            out.append((columns_record(id_of(row["PartitionKey"]), light, self.large), row))
        return sorted(out, key=lambda p: p[0].instance_id)

    def query_instances(self, query: InstanceQuery) -> QueryResult:
        after = decode_continuation(query.continuation)
        with self._errors("query instances"):
            found = [(r, row) for r, row in self._all_records(query) if matches(query, r)]
            if after is not None:
                found = [p for p in found if p[0].instance_id > after]
            more = 0 < query.top < len(found)
            page = found[: query.top] if more else found
            recs = [columns_record(r.instance_id, row, self.large) for r, row in page]
            return QueryResult(recs, encode_continuation(recs[-1].instance_id) if more else None)

    def purge_instance(self, instance_id: str) -> bool:
        key = key_of(instance_id)
        with self._scan_lock(), self._errors(f"purge instance {instance_id!r}"):
            existed = self.tables.get_row(key) is not None or self.tables.read_sentinel(key).record is not None
            self.tables.forget(key)
            self.tables.delete_partition(key)
            self.tables.delete_row(key)
            self._drop_claims(instance_id)
            self._purge_messages(instance_id)
            for blob in self._container.list_blobs(name_starts_with=blob_prefix(instance_id)):
                self._container.delete_blob(blob.name)
            return existed

    def purge_instances(self, query: InstanceQuery) -> int:
        with self._errors("query instances to purge"):
            ids = [r.instance_id for r, _ in self._all_records(query) if matches(query, r)]
        for instance_id in ids:
            self.purge_instance(instance_id)
        return len(ids)

    def set_instance_row(self, record: InstanceRecord) -> None:
        key = key_of(record.instance_id)
        with self._errors(f"write instance {record.instance_id!r}"):
            for _ in range(10):
                s = self.tables.read_sentinel(key)
                counter = s.counter + 1
                cols = record_columns(record, counter, self.large, new_token())
                self.tables.forget(key)
                try:
                    self.tables.write_sentinel(replace(s, counter=counter, record=cols))
                    break
                except Stale:
                    continue
            else:
                raise ConflictError(f"instance {record.instance_id!r} kept changing")
            self.tables.project(key, cols, counter)
            record.etag = counter

    def _drop_claims(self, instance_id: str) -> None:
        self._leases.pop(instance_id, None)
        for token in [t for t, c in self._claims.items() if c.instance_id == instance_id]:
            del self._claims[token]

    def _purge_messages(self, instance_id: str) -> None:
        for held in [h for h in list(self.queues.held.values()) if h.msg.target == instance_id]:
            self.queues.delete(held)
        for qname in (self.queues.qname_for(ORCHESTRATOR_QUEUE, instance_id), self.queues.workitems):
            visible = self.queues.peek(qname)
            if len(visible) < 32 and not any(m.target == instance_id for m in visible):
                continue
            for held in self.queues.scan(qname):
                if held.msg.target == instance_id:
                    self.queues.delete(held)
