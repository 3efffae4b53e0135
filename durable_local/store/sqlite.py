"""The SQLite store: the embedded, durable default backend.

One file (WAL, ``synchronous=FULL`` unless told otherwise), one connection guarded by a
lock (in-process callers serialize on the lock; other processes on SQLite's own locks with
a busy timeout). Every write is one ``BEGIN IMMEDIATE`` transaction, so a crash between
statements rolls the whole episode back, and every guard (etag, lease) is a SQL predicate,
so it holds when several processes share the file.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import sqlite_schema as sch
from ._common import (
    decode_continuation,
    dumps,
    encode_continuation,
    new_token,
    opt_from_us,
    to_us,
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
from .history_cache import HistoryCache
from .sqlite_hoststate import SqliteHostState


class SqliteStore(SqliteHostState):
    """``Store`` on one SQLite file; see base.py for the semantics of each method (host state
    for triggers: sqlite_hoststate.py)."""

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._synchronous = synchronous.upper()
        self._lock = threading.RLock()
        # decoded histories of claimed instances: a claim then decodes only the newer rows
        self._histories = HistoryCache()
        # named fault points for crash tests: called with e.g. "commit.after_history"
        self.fault_hook: Callable[[str], None] | None = None
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves instead of Python's
        # implicit deferred BEGIN, which can deadlock into SQLITE_BUSY on lock upgrade
        conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise StoreError(f"could not put {self.path} into WAL mode")
        # FULL = group commit: SQLite commits without syncing (NORMAL) and _tx then waits until
        # one fdatasync of the WAL covers the commit; concurrent commits share that fsync.
        self._group = self._synchronous == "FULL"
        conn.execute(f"PRAGMA synchronous = {'NORMAL' if self._group else self._synchronous}")
        self._sync_cv = threading.Condition(threading.Lock())
        self._committed = 0  # commits made by this store (sequence numbers)
        self._synced = 0  # every commit up to this one is on disk
        self._syncing = False
        self._wal_fd: int | None = None
        self._conn: sqlite3.Connection | None = conn
        self._batch_owner: int | None = None  # the thread inside batch(), if any
        with self._tx() as c:
            sch.ensure_schema(c)

    # -- plumbing ----------------------------------------------------------------------------
    def _fault(self, name: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(name)
        fault_point(name)  # the process-wide registry (durable_local.testing.faults)

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("store is closed")
        return self._conn

    @contextmanager
    def _tx(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the write lock up front, so the
        checks we make inside cannot be invalidated by another writer before COMMIT.

        ``durable=False`` (lease claims, activity results) commits without an fsync: in WAL mode the next
        durable commit's fsync covers those frames too, and a claim lost in a crash is
        harmless (the lease would have to expire or be released anyway; at-least-once)."""
        if self._batch_owner == threading.get_ident():
            # inside batch(): this write is a savepoint of the batch's transaction, so a
            # failed write (a ConflictError) undoes only itself; the batch commits and syncs
            with self._lock:
                conn = self._c()
                conn.execute("SAVEPOINT w")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    raise
                conn.execute("RELEASE w")
            return
        with self._lock:
            conn = self._c()
            relax = not durable and not self._group and self._synchronous != "NORMAL"
            if relax:
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                if durable:
                    self._committed += 1
                # a claim needs no fsync of its own (a lost claim is harmless), but the work it
                # hands out must not rest on commits not yet on disk: wait for those
                seq = self._committed
            finally:
                if relax:
                    conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        if self._group:
            self._wait_durable(seq)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run several writes (commits, activity completions) as one transaction with one
        fsync. Each write inside is a savepoint: one that raises leaves no trace and the
        others still commit. If the batch's own COMMIT fails, every write in it failed."""
        with self._lock:
            conn = self._c()
            conn.execute("BEGIN IMMEDIATE")
            self._batch_owner = threading.get_ident()
            try:
                yield
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._batch_owner = None
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._committed += 1
            seq = self._committed
        if self._group:
            self._wait_durable(seq)

    def _wait_durable(self, seq: int) -> None:
        """Group commit: return once commit ``seq`` is on disk. One waiter (the leader)
        fdatasyncs the WAL for everything committed so far; the others wait for it. In WAL
        mode a commit is durable once its WAL frames are synced (what synchronous=FULL does
        at every commit); checkpoints still sync as in NORMAL."""
        with self._sync_cv:
            while self._synced < seq:
                if self._syncing:
                    self._sync_cv.wait()
                    continue
                self._syncing = True
                target = self._committed
                self._sync_cv.release()
                try:
                    self._fsync_wal()
                finally:
                    self._sync_cv.acquire()
                    self._syncing = False
                    self._sync_cv.notify_all()
                self._synced = max(self._synced, target)

    def _fsync_wal(self) -> None:
        if self._wal_fd is None:
            self._wal_fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        os.fdatasync(self._wal_fd)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._c()

    @staticmethod
    def _insert(conn: sqlite3.Connection, rows: list[sch.Row]) -> list[tuple[Message, int]]:
        ids = []
        for original, *values in rows:
            cur = conn.execute("INSERT INTO messages (queue, target, payload, visible_at) VALUES (?, ?, ?, ?)", values)
            ids.append((original, cur.lastrowid or 0))
        return ids

    @staticmethod
    def _assign(ids: list[tuple[Message, int]]) -> None:
        # only after COMMIT: a rolled-back insert must not leave an id on the caller's message
        for original, mid in ids:
            original.id = mid

    def _after(self, delay_seconds: float) -> int | None:
        return to_us(utc(self._clock()) + timedelta(seconds=delay_seconds)) if delay_seconds > 0 else None

    # -- instances -------------------------------------------------------------------------
    def create_instance(self, record: InstanceRecord, start: Message, *, allow_replace: bool = True) -> None:
        rows = sch.prepare([start])
        iid = record.instance_id
        with self._tx() as c:
            old = c.execute("SELECT runtime_status, etag FROM instances WHERE instance_id = ?", (iid,)).fetchone()
            etag = 1
            if old is not None:
                if old[0] in RUNNING_STATES or not allow_replace:
                    raise InstanceExistsError(f"instance {iid!r} exists with status {old[0]}")
                # replacing a terminal instance: stale completions must not reach the new one;
                # the etag keeps counting so a stale writer of the old one cannot match
                etag = old[1] + 1
                for table in ("instances", "history", "leases"):
                    c.execute(f"DELETE FROM {table} WHERE instance_id = ?", (iid,))
                c.execute("DELETE FROM messages WHERE target = ?", (iid,))
            c.execute(sch.INSERT_INSTANCE, sch.instance_values(record, etag))
            ids = self._insert(c, rows)
            self._fault("create_instance.before_commit")
        self._assign(ids)
        record.etag = etag
        self._fault("create_instance.after_commit")

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        with self._read() as c:
            row = c.execute(
                f"SELECT {sch.INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
            ).fetchone()
        return None if row is None else sch.row_to_instance(row)

    def get_history(self, instance_id: str) -> list[dict[str, Any]]:
        with self._read() as c:
            rows = c.execute("SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def query_instances(self, query: InstanceQuery) -> QueryResult:
        after = decode_continuation(query.continuation)
        where, args = sch.where(query)
        if after is not None:
            where += " AND instance_id > ?"
            args.append(after)
        sql = f"SELECT {sch.INSTANCE_COLUMNS} FROM instances WHERE {where} ORDER BY instance_id"
        if query.top > 0:
            sql += " LIMIT ?"
            args.append(query.top + 1)  # one extra row tells us whether there is a next page
        with self._read() as c:
            recs = [sch.row_to_instance(r) for r in c.execute(sql, args).fetchall()]
        if query.top > 0 and len(recs) > query.top:
            recs = recs[: query.top]
            return QueryResult(recs, encode_continuation(recs[-1].instance_id))
        return QueryResult(recs, None)

    @staticmethod
    def _purge(c: sqlite3.Connection, instance_id: str) -> bool:
        existed = c.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,)).rowcount > 0
        c.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))
        c.execute("DELETE FROM leases WHERE instance_id = ?", (instance_id,))
        c.execute("DELETE FROM messages WHERE target = ?", (instance_id,))
        return existed

    def purge_instance(self, instance_id: str) -> bool:
        with self._tx() as c:
            return self._purge(c, instance_id)

    def purge_instances(self, query: InstanceQuery) -> int:
        where, args = sch.where(query)
        with self._tx() as c:
            ids = [r[0] for r in c.execute(f"SELECT instance_id FROM instances WHERE {where}", args).fetchall()]
            for instance_id in ids:
                self._purge(c, instance_id)
        return len(ids)

    # -- messages --------------------------------------------------------------------------
    def enqueue(self, messages: Iterable[Message]) -> None:
        rows = sch.prepare(messages)
        with self._tx() as c:
            ids = self._insert(c, rows)
            self._fault("enqueue.before_commit")
        self._assign(ids)
        self._fault("enqueue.after_commit")

    def next_visible_time(self) -> datetime | None:
        # three index-friendly parts instead of one scan: delayed messages, messages of
        # leased instances, leased or delayed activities; MIN over their blocking times
        sql = f"""
        SELECT MIN(t) FROM (
          SELECT MAX(m.visible_at, COALESCE(l.expires, {sch.NEVER})) AS t FROM messages m
            LEFT JOIN leases l ON l.instance_id = m.target
            WHERE m.queue = '{ORCHESTRATOR_QUEUE}' AND m.visible_at IS NOT NULL
          UNION ALL
          SELECT MAX(COALESCE(m.visible_at, {sch.NEVER}), l.expires) FROM leases l
            JOIN messages m ON m.target = l.instance_id AND m.queue = '{ORCHESTRATOR_QUEUE}'
          UNION ALL
          SELECT MAX(COALESCE(visible_at, {sch.NEVER}), COALESCE(lease_expires, {sch.NEVER})) FROM messages
            WHERE queue = '{ACTIVITY_QUEUE}' AND (visible_at IS NOT NULL OR lease_expires IS NOT NULL)
        )"""
        with self._read() as c:
            return opt_from_us(c.execute(sql).fetchone()[0])

    # -- orchestration / entity episodes ---------------------------------------------------
    def claim_orchestrations(
        self, now: datetime, limit: int, lease_seconds: float, owner: str
    ) -> list[OrchestrationWorkItem]:
        now_us = to_us(now)
        expires = now_us + int(lease_seconds * 1_000_000)
        visible = "(visible_at IS NULL OR visible_at <= ?)"
        items = []
        with self._tx(durable=False) as c:
            targets = c.execute(
                f"""SELECT target FROM messages m
                    WHERE queue = '{ORCHESTRATOR_QUEUE}' AND {visible}
                      AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.instance_id = m.target AND l.expires > ?)
                    GROUP BY target ORDER BY MIN(id) LIMIT ?""",
                (now_us, now_us, limit),
            ).fetchall()
            for (iid,) in targets:
                token = new_token()
                # REPLACE takes over an expired lease; the old holder's commit then fails
                c.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?)", (iid, owner, token, expires))
                msgs = c.execute(
                    f"SELECT {sch.MSG_COLS} FROM messages WHERE target = ? AND queue = '{ORCHESTRATOR_QUEUE}' "
                    f"AND {visible} ORDER BY id",
                    (iid, now_us),
                ).fetchall()
                row = c.execute(
                    f"SELECT {sch.INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (iid,)
                ).fetchone()
                history = self._histories.history(iid, functools.partial(_history_rows, c, iid))
                items.append(
                    OrchestrationWorkItem(
                        instance_id=iid,
                        instance=None if row is None else sch.row_to_instance(row),
                        history=history,
                        messages=[sch.message(m) for m in msgs],
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
        iid = item.instance_id
        if instance is None:  # consume-only: the engine dropped every message
            self._consume_only(item, consumed, outgoing)
            return
        if instance.instance_id != iid:
            raise ValueError(f"record {instance.instance_id!r} does not belong to {iid!r}")
        events = [dumps(e) for e in new_history]
        rows = sch.prepare(outgoing)
        done = [m.id for m in item.messages] if consumed is None else list(consumed)
        etag = instance.etag + 1
        with self._tx() as c:
            lease = c.execute("SELECT token FROM leases WHERE instance_id = ?", (iid,)).fetchone()
            if lease is None or lease[0] != item.lease_token:
                raise ConflictError(f"lease on {iid!r} was lost")
            if instance.etag == 0:
                if c.execute("SELECT 1 FROM instances WHERE instance_id = ?", (iid,)).fetchone():
                    raise ConflictError(f"instance {iid!r} was created concurrently (etag 0 but row exists)")
                c.execute(sch.INSERT_INSTANCE, sch.instance_values(instance, etag))
            elif c.execute(sch.UPDATE_INSTANCE, sch.update_values(instance, etag, instance.etag)).rowcount != 1:
                raise ConflictError(f"etag mismatch on {iid!r}: have {instance.etag}")
            self._fault("commit.after_instance")
            if replace_history:
                c.execute("DELETE FROM history WHERE instance_id = ?", (iid,))
                seq = 0
            else:  # the lease and etag guarantee the rows are the ones claimed with the item
                seq = len(item.history)
            c.executemany(
                "INSERT INTO history (instance_id, seq, execution_id, event) VALUES (?, ?, ?, ?)",
                [(iid, seq + i, instance.execution_id, e) for i, e in enumerate(events)],
            )
            self._fault("commit.after_history")
            ids = self._insert(c, rows)
            self._fault("commit.after_outbox_enqueue")
            c.executemany("DELETE FROM messages WHERE id = ?", [(mid,) for mid in done])
            c.execute("DELETE FROM leases WHERE instance_id = ?", (iid,))
            self._fault("commit.before_commit")
        self._assign(ids)
        instance.etag = etag
        self._fault("commit.after_commit")

    def _consume_only(
        self, item: OrchestrationWorkItem, consumed: Sequence[int] | None, outgoing: Sequence[Message]
    ) -> None:
        rows = sch.prepare(outgoing)
        done = [m.id for m in item.messages] if consumed is None else list(consumed)
        with self._tx() as c:
            lease = c.execute("SELECT token FROM leases WHERE instance_id = ?", (item.instance_id,)).fetchone()
            if lease is None or lease[0] != item.lease_token:
                raise ConflictError(f"lease on {item.instance_id!r} was lost")
            ids = self._insert(c, rows)
            c.executemany("DELETE FROM messages WHERE id = ?", [(mid,) for mid in done])
            c.execute("DELETE FROM leases WHERE instance_id = ?", (item.instance_id,))
        self._assign(ids)

    def abandon_orchestration(self, item: OrchestrationWorkItem, delay_seconds: float = 0.0) -> None:
        visible = self._after(delay_seconds)
        with self._tx() as c:
            gone = c.execute(
                "DELETE FROM leases WHERE instance_id = ? AND token = ?", (item.instance_id, item.lease_token)
            ).rowcount
            if gone:  # else someone else owns the instance now; their claim decides
                c.executemany(
                    "UPDATE messages SET dequeue_count = dequeue_count + 1, visible_at = COALESCE(?, visible_at) "
                    "WHERE id = ?",
                    [(visible, m.id) for m in item.messages],
                )

    # -- activities ------------------------------------------------------------------------
    def claim_activities(self, now: datetime, limit: int, lease_seconds: float, owner: str) -> list[Message]:
        now_us = to_us(now)
        expires = now_us + int(lease_seconds * 1_000_000)
        with self._tx(durable=False) as c:
            rows = c.execute(
                f"""SELECT {sch.MSG_COLS} FROM messages
                    WHERE queue = '{ACTIVITY_QUEUE}' AND (visible_at IS NULL OR visible_at <= ?)
                      AND (lease_expires IS NULL OR lease_expires <= ?)
                    ORDER BY id LIMIT ?""",
                (now_us, now_us, limit),
            ).fetchall()
            out = []
            for row in rows:
                m = sch.message(row)
                m.lease_token = new_token()
                c.execute(
                    "UPDATE messages SET lease_owner = ?, lease_token = ?, lease_expires = ? WHERE id = ?",
                    (owner, m.lease_token, expires, m.id),
                )
                out.append(m)
        return out

    def complete_activity(self, item: Message, result: Message) -> None:
        rows = sch.prepare([result])
        ids: list[tuple[Message, int]] = []
        # No fsync of its own: nothing depends on the result until the episode that consumes it
        # commits, durably, and that fsync of the WAL covers this earlier commit too. A power
        # loss in between loses only the completion: the activity runs again (at-least-once).
        with self._tx(durable=False) as c:
            # no row: completed before (at-least-once delivery), so write nothing
            if c.execute(f"DELETE FROM messages WHERE id = ? AND queue = '{ACTIVITY_QUEUE}'", (item.id,)).rowcount:
                ids = self._insert(c, rows)
                self._fault("complete_activity.before_commit")
        self._assign(ids)
        if ids:
            self._fault("complete_activity.after_activity_result_persist")

    def abandon_activity(self, item: Message, delay_seconds: float = 0.0) -> None:
        visible = self._after(delay_seconds)
        with self._tx() as c:
            c.execute(
                "UPDATE messages SET lease_owner = NULL, lease_token = NULL, lease_expires = NULL, "
                "dequeue_count = dequeue_count + 1, visible_at = COALESCE(?, visible_at) "
                f"WHERE id = ? AND queue = '{ACTIVITY_QUEUE}' AND (? IS NULL OR lease_token = ?)",
                (visible, item.id, item.lease_token, item.lease_token),
            )

    # -- crash recovery -----------------------------------------------------------------------
    def release_dead_leases(self, is_dead: Callable[[str], bool]) -> int:
        """Release the orchestration and activity leases of owners ``is_dead`` says crashed
        (a restarted host calls it, so in-flight work resumes at once, not after the lease
        expiry). The messages keep their dequeue_count; returns how many leases were freed."""
        with self._tx() as c:
            owners = {r[0] for r in c.execute("SELECT DISTINCT owner FROM leases")}
            owners |= {
                r[0] for r in c.execute("SELECT DISTINCT lease_owner FROM messages WHERE lease_owner IS NOT NULL")
            }
            dead = [(o,) for o in owners if is_dead(o)]
            n = 0
            for (owner,) in dead:
                n += c.execute("DELETE FROM leases WHERE owner = ?", (owner,)).rowcount
                n += c.execute(
                    "UPDATE messages SET lease_owner = NULL, lease_token = NULL, lease_expires = NULL "
                    "WHERE lease_owner = ?",
                    (owner,),
                ).rowcount
        return n

    # -- introspection and repair ------------------------------------------------------------
    def count_messages(self, queue: str | None = None, target: str | None = None) -> int:
        with self._read() as c:
            return int(
                c.execute(
                    "SELECT COUNT(*) FROM messages WHERE (? IS NULL OR queue = ?) AND (? IS NULL OR target = ?)",
                    (queue, queue, target, target),
                ).fetchone()[0]
            )

    def list_messages(self, target: str) -> list[Message]:
        with self._read() as c:
            rows = c.execute(f"SELECT {sch.MSG_COLS} FROM messages WHERE target = ? ORDER BY id", (target,)).fetchall()
        return [sch.message(r) for r in rows]

    def set_instance_row(self, record: InstanceRecord) -> None:
        with self._tx() as c:
            old = c.execute("SELECT etag FROM instances WHERE instance_id = ?", (record.instance_id,)).fetchone()
            etag = (old[0] if old else 0) + 1
            c.execute("DELETE FROM instances WHERE instance_id = ?", (record.instance_id,))
            c.execute(sch.INSERT_INSTANCE, sch.instance_values(record, etag))
        record.etag = etag

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            with self._sync_cv:
                if self._wal_fd is not None:
                    os.close(self._wal_fd)
                    self._wal_fd = None


def _history_rows(conn: sqlite3.Connection, instance_id: str, start: int) -> list[tuple[int, str]]:
    """(seq, event text) of an instance's history from position ``start`` on."""
    rows = conn.execute(
        "SELECT seq, event FROM history WHERE instance_id = ? AND seq >= ? ORDER BY seq", (instance_id, start)
    ).fetchall()
    return [(int(seq), str(text)) for seq, text in rows]
