"""Azure backend: the ``{Hub}History`` sentinel protocol and the ``{Hub}Instances`` projection.

The sentinel row (PartitionKey = instance, RowKey ``sentinel``) is the commit point of an
instance, as in DurableTask.AzureStorage, and more:

- ``HistoryCount``: rows ``0 .. HistoryCount-1`` are the history; rows past it are ignored
  on read (left-overs of a replaced history or of a large commit that lost its race).
- ``LeaseToken`` / ``LeaseOwner`` / ``LeaseExpires`` (epoch µs in the callers' clock): the
  per-instance orchestration lease. Claiming writes it with If-Match of the sentinel's ETag;
  every later write of that holder (commit, abandon) is If-Match the ETag its own previous
  write returned, so a holder whose lease was taken over, or whose instance was replaced,
  purged or repaired meanwhile, fails with 412 and writes nothing.
- ``InstanceEtag`` plus a copy of the Instances-row columns: the instance record is written
  in the same entity-group transaction as the history, so the commit is atomic even though
  the Instances table is a different table, and ``get_instance`` reads it from here. The
  Instances row is then *projected* from it (written only if its ``Etag`` counter is older),
  so tools and queries see DTFx's layout, and a crash between the two writes is repaired by
  the next write of the instance. A commit that changes nothing but ``LastUpdatedTime`` (and
  the counter) skips the projection (``project_visible``): a running instance's row shows
  the time of its last visible change (status, custom status, input, output, state).
- ``Outbox`` / ``OutboxPending``: the messages a commit must send. They are sent after the
  transaction; if the process dies before that, the next claim of the instance sends them
  again (at-least-once; the engine drops duplicates). The process that sent them does not
  write the row again to say so: its next claim of the instance, which writes the row anyway
  (the lease), clears the outbox in that same write (``Sentinel.outbox_sent``). Another
  process, or this one after a restart, finds it pending and sends it again.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode

from .azure_codec import RECORD_COLUMNS, SENTINEL, LargeValues, entity_size, row_key
from .azure_http import TableOp, submit_transaction

MAX_BATCH_OPS = 100
MAX_BATCH_BYTES = 3 * 1024 * 1024  # the service limit is 4 MiB per transaction
CACHE_SIZE = 1000  # instances whose sentinel + history we keep after writing them


class Stale(Exception):
    """A conditional write lost (412 / 409 / 404): someone else wrote first."""


@dataclass
class Sentinel:
    key: str
    etag: str | None = None  # None: the row does not exist yet
    history_count: int = 0
    counter: int = 0  # the instance's etag counter (0 = no record yet)
    execution_id: str = ""
    lease_token: str = ""
    lease_owner: str = ""
    lease_expires: int = 0  # epoch µs
    outbox_pending: bool = False
    outbox: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None  # Instances-row columns, when the instance has a record
    # not stored: this process sent the pending outbox after writing this row (so the next
    # write may clear it instead of sending it again)
    outbox_sent: bool = False


def _int(value: Any) -> int:
    return int(value.value if isinstance(value, EntityProperty) else value or 0)


def _stale(exc: HttpResponseError) -> bool:
    return exc.status_code in (404, 409, 412)


class Tables:
    """Operations on ``{Hub}History`` and ``{Hub}Instances`` for one hub."""

    def __init__(self, history: TableClient, instances: TableClient, large: LargeValues) -> None:
        self.history = history
        self.instances = instances
        self._large = large
        self._row_etags: dict[str, tuple[int, str | None]] = {}  # projection cache: key -> (counter, etag)
        # key -> the latest counter whose record the row shows, but for LastUpdatedTime and Etag
        self._row_synced: dict[str, int] = {}
        self._cache: OrderedDict[str, tuple[Sentinel, list[dict[str, Any]]]] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- sentinel ----------------------------------------------------------------------------
    def read_sentinel(self, key: str) -> Sentinel:
        try:
            e = self.history.get_entity(key, SENTINEL)
        except ResourceNotFoundError:
            return Sentinel(key)
        outbox = self._large.column(e, "Outbox")
        record = {c: e[c] for c in RECORD_COLUMNS if c in e} if e.get("HasInstance") else None
        return Sentinel(
            key=key,
            etag=e.metadata["etag"],
            history_count=_int(e.get("HistoryCount")),
            counter=_int(e.get("InstanceEtag")),
            execution_id=e.get("ExecutionId", ""),
            lease_token=e.get("LeaseToken", ""),
            lease_owner=e.get("LeaseOwner", ""),
            lease_expires=_int(e.get("LeaseExpires")),
            outbox_pending=bool(e.get("OutboxPending", False)),
            outbox=json.loads(outbox) if outbox else [],
            record=record,
        )

    def _entity(self, s: Sentinel, outbox_blob: str) -> dict[str, Any]:
        e: dict[str, Any] = {
            "PartitionKey": s.key,
            "RowKey": SENTINEL,
            "ExecutionId": s.execution_id,
            "HistoryCount": s.history_count,
            "InstanceEtag": s.counter,
            "HasInstance": s.record is not None,
            "LeaseToken": s.lease_token,
            "LeaseOwner": s.lease_owner,
            "LeaseExpires": EntityProperty(s.lease_expires, EdmType.INT64),
            "OutboxPending": s.outbox_pending,
        }
        if s.outbox:
            self._large.set_column(e, "Outbox", json.dumps(s.outbox), outbox_blob)
        if s.record is not None:
            e.update(s.record)
        return e

    def _sentinel_op(self, s: Sentinel, outbox_blob: str) -> TableOp:
        entity = self._entity(s, outbox_blob)
        if s.etag is None:
            return ("create", entity)
        return (
            "update",
            entity,
            {"mode": UpdateMode.REPLACE, "etag": s.etag, "match_condition": MatchConditions.IfNotModified},
        )

    def write_sentinel(self, s: Sentinel, outbox_blob: str = "") -> Sentinel:
        """Write ``s`` conditionally (create if ``s.etag`` is None, else If-Match); returns
        it with the new ETag. Raises Stale if someone else wrote first."""
        return self.commit(s, [], outbox_blob)

    def commit(self, s: Sentinel, rows: list[dict[str, Any]], outbox_blob: str = "") -> Sentinel:
        """Write history ``rows`` and then the sentinel ``s`` (If-Match ``s.etag``).

        Up to 99 rows go in one transaction with the sentinel. Larger commits are split;
        each earlier chunk carries a MERGE of the sentinel that only touches ``Pending``,
        If-Match the previous ETag, so a stale writer cannot write a single row, and the
        rows stay invisible (past ``HistoryCount``) until the last chunk moves the count.
        """
        etag = s.etag
        chunks = list(_chunks(rows))
        if not chunks:
            return self._write_one(s, outbox_blob)
        try:
            for i, chunk in enumerate(chunks[:-1]):
                if etag is None:
                    raise Stale("no sentinel")
                touch = {"PartitionKey": s.key, "RowKey": SENTINEL, "Pending": i + 1}
                ops: list[TableOp] = [("upsert", r, {"mode": UpdateMode.REPLACE}) for r in chunk]
                ops.append(
                    (
                        "update",
                        touch,
                        {"mode": UpdateMode.MERGE, "etag": etag, "match_condition": MatchConditions.IfNotModified},
                    )
                )
                etag = submit_transaction(self.history, ops)[-1]["etag"]
            ops = [("upsert", r, {"mode": UpdateMode.REPLACE}) for r in chunks[-1]]
            ops.append(self._sentinel_op(replace(s, etag=etag), outbox_blob))
            etag = submit_transaction(self.history, ops)[-1]["etag"]
        except HttpResponseError as exc:
            if _stale(exc) or isinstance(exc, ResourceExistsError):
                raise Stale(str(exc.message)) from exc
            raise
        return replace(s, etag=etag)

    def _write_one(self, s: Sentinel, outbox_blob: str) -> Sentinel:
        """The sentinel alone: a plain conditional insert / replace (no transaction needed)."""
        entity = self._entity(s, outbox_blob)
        try:
            if s.etag is None:
                meta = self.history.create_entity(entity)
            else:
                meta = self.history.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=s.etag, match_condition=MatchConditions.IfNotModified
                )
        except HttpResponseError as exc:
            if _stale(exc) or isinstance(exc, ResourceExistsError):
                raise Stale(str(exc.message)) from exc
            raise
        return replace(s, etag=meta["etag"])

    # -- what we last wrote, per instance (saves the reads of the next claim) -------------------
    def remember(self, s: Sentinel, history: list[dict[str, Any]]) -> None:
        """Cache the sentinel we just wrote and the history it covers. A claim tries its
        conditional write against the cached ETag; if anyone else wrote since, that fails
        with 412 and the claim reads both again, so a stale cache costs one round trip."""
        with self._cache_lock:
            self._cache[s.key] = (s, history)
            self._cache.move_to_end(s.key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def cached(self, key: str) -> tuple[Sentinel, list[dict[str, Any]]] | None:
        with self._cache_lock:
            return self._cache.get(key)

    def forget(self, key: str) -> None:
        with self._cache_lock:
            self._cache.pop(key, None)

    # -- history -----------------------------------------------------------------------------
    def read_rows(self, key: str, count: int) -> list[dict[str, Any]]:
        if count <= 0:
            return []
        rows = self.history.query_entities(
            "PartitionKey eq @pk and RowKey lt @rk", parameters={"pk": key, "rk": row_key(count)}
        )
        return sorted(rows, key=lambda r: r["RowKey"])

    def delete_rows(self, key: str, start: int) -> None:
        """Delete history rows from sequence ``start`` on (not the sentinel)."""
        rows = self.history.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": key, "lo": row_key(start), "hi": SENTINEL},
            select=["PartitionKey", "RowKey"],
        )
        self._delete(self.history, list(rows))

    def delete_partition(self, key: str) -> None:
        rows = self.history.query_entities(
            "PartitionKey eq @pk", parameters={"pk": key}, select=["PartitionKey", "RowKey"]
        )
        self._delete(self.history, list(rows))

    @staticmethod
    def _delete(table: TableClient, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), MAX_BATCH_OPS):
            ops = [
                ("delete", {"PartitionKey": r["PartitionKey"], "RowKey": r["RowKey"]})
                for r in rows[i : i + MAX_BATCH_OPS]
            ]
            try:
                submit_transaction(table, ops)
            except HttpResponseError as exc:
                if exc.status_code != 404:
                    raise
                for op in ops:  # someone deleted a row meanwhile: go one by one
                    table.delete_entity(op[1]["PartitionKey"], op[1]["RowKey"])

    # -- instances projection ----------------------------------------------------------------
    def get_row(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.instances.get_entity(key, ""))
        except ResourceNotFoundError:
            return None

    def list_rows(self, statuses: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every Instances row, or (filtered by the service) those with one of ``statuses``."""
        if statuses is None:
            rows = self.instances.list_entities()
        else:
            names = sorted(set(statuses))
            if not names:
                return
            params = {f"s{i}": name for i, name in enumerate(names)}
            rows = self.instances.query_entities(
                " or ".join(f"RuntimeStatus eq @{p}" for p in params), parameters=params
            )
        for e in rows:
            yield dict(e)

    def read_record(self, key: str) -> dict[str, Any] | None:
        """The instance's record columns as the sentinel holds them (None: no record)."""
        try:
            e = self.history.get_entity(key, SENTINEL, select=["HasInstance", *RECORD_COLUMNS])
        except ResourceNotFoundError:
            return None
        return {c: e[c] for c in RECORD_COLUMNS if e.get(c) is not None} if e.get("HasInstance") else None

    def delete_row(self, key: str) -> None:
        self._row_etags.pop(key, None)
        self._row_synced.pop(key, None)
        try:
            self.instances.delete_entity(key, "")
        except ResourceNotFoundError:
            pass

    def project_visible(self, key: str, old: dict[str, Any] | None, cols: dict[str, Any], counter: int,
                        previous: int) -> None:  # fmt: skip
        """Project ``cols`` (counter ``counter``), unless the row already shows the previous
        record (``old``, counter ``previous``) and only the time and the counter changed."""
        if old is not None and self._row_synced.get(key) == previous and _same_but_time(old, cols):
            self._row_synced[key] = counter
            return
        self.project(key, cols, counter)

    def project(self, key: str, cols: dict[str, Any], counter: int, *, fresh: bool = False) -> None:
        """Write the Instances row unless a newer one (higher ``Etag``) is already there.
        ``fresh``: the instance was just created, so try a plain insert first."""
        entity = {"PartitionKey": key, "RowKey": "", **cols}
        if fresh and key not in self._row_etags:
            try:
                meta = self.instances.create_entity(entity)
                self._row_etags[key] = (counter, meta["etag"])
                self._row_synced[key] = counter
                return
            except ResourceExistsError:
                pass  # left over, or a racing projection: compare counters below
        for _ in range(5):
            cached = self._row_etags.get(key)
            try:
                if cached is not None:
                    meta = self.instances.update_entity(
                        entity, mode=UpdateMode.REPLACE, etag=cached[1], match_condition=MatchConditions.IfNotModified
                    )
                else:
                    try:
                        current = self.instances.get_entity(key, "")
                    except ResourceNotFoundError:
                        meta = self.instances.create_entity(entity)
                    else:
                        if _int(current.get("Etag")) >= counter:
                            return  # a newer record is there: it is not ours to say which
                        self._row_etags[key] = (_int(current.get("Etag")), current.metadata["etag"])
                        continue
                self._row_etags[key] = (counter, meta["etag"])
                self._row_synced[key] = counter
                return
            except HttpResponseError as exc:
                if not _stale(exc):
                    raise
                self._row_etags.pop(key, None)
                self._row_synced.pop(key, None)


def _same_but_time(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """The two records differ at most in LastUpdatedTime and Etag (what every commit bumps)."""
    skip = ("LastUpdatedTime", "Etag")
    return {k: v for k, v in old.items() if k not in skip} == {k: v for k, v in new.items() if k not in skip}


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Transaction-sized chunks (leaving room for the sentinel op in each)."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        n = entity_size(row)
        if chunk and (len(chunk) >= MAX_BATCH_OPS - 1 or size + n > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += n
    if chunk:
        yield chunk
