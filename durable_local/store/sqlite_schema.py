"""SQLite schema (versioned with PRAGMA user_version), row <-> record codecs, SQL builders.

Times are INTEGER epoch microseconds (UTC): exact, cheap to compare and index. JSON lives
in TEXT columns. Orchestration leases have their own table because an instance may be
claimed before it has a row (a sub-orchestration's ExecutionStarted, an entity's first
request); activity leases are columns on the message they protect.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from ._common import dumps, from_us, opt_from_us, opt_to_us, to_us
from .base import ACTIVITY_QUEUE, ORCHESTRATOR_QUEUE, InstanceQuery, InstanceRecord, Message, StoreError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id        TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    runtime_status     TEXT NOT NULL,
    created_time       INTEGER NOT NULL,
    last_updated_time  INTEGER NOT NULL,
    execution_id       TEXT NOT NULL DEFAULT '',
    version            TEXT NOT NULL DEFAULT '',
    input              TEXT,
    output             TEXT,
    custom_status      TEXT,
    parent_instance_id TEXT,
    entity_state       TEXT,
    entity_exists      INTEGER NOT NULL DEFAULT 0,
    etag               INTEGER NOT NULL
);
-- no secondary indexes on instances: every episode rewrites the row, and each index would
-- add a dirty page to every commit. Queries (management API) scan in instance_id order.

-- the current execution's history, seq is 0-based per instance
CREATE TABLE IF NOT EXISTS history (
    instance_id  TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    event        TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;

-- AUTOINCREMENT: ids never get reused, so id order is enqueue order even across purges
CREATE TABLE IF NOT EXISTS messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT NOT NULL,
    target        TEXT NOT NULL,
    payload       TEXT NOT NULL,
    visible_at    INTEGER,
    lease_owner   TEXT,
    lease_token   TEXT,
    lease_expires INTEGER,
    dequeue_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_messages_claim ON messages (queue, visible_at);
CREATE INDEX IF NOT EXISTS ix_messages_target ON messages (target, queue);

-- orchestration/entity leases: a row lives from claim until commit or abandon
CREATE TABLE IF NOT EXISTS leases (
    instance_id TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    token       TEXT NOT NULL,
    expires     INTEGER NOT NULL
) WITHOUT ROWID;
"""

INSTANCE_COLUMNS = (
    "instance_id, name, runtime_status, created_time, last_updated_time, execution_id, version, "
    "input, output, custom_status, parent_instance_id, entity_state, entity_exists, etag"
)
INSERT_INSTANCE = f"INSERT INTO instances ({INSTANCE_COLUMNS}) VALUES ({', '.join('?' * 14)})"
# the etag guard lives in the WHERE clause so that it holds across processes
UPDATE_INSTANCE = (
    "UPDATE instances SET name=?, runtime_status=?, created_time=?, last_updated_time=?, execution_id=?, "
    "version=?, input=?, output=?, custom_status=?, parent_instance_id=?, entity_state=?, entity_exists=?, "
    "etag=? WHERE instance_id=? AND etag=?"
)


def instance_values(rec: InstanceRecord, etag: int) -> tuple[Any, ...]:
    """Column values in INSTANCE_COLUMNS order."""
    return (
        rec.instance_id,
        rec.name,
        rec.runtime_status,
        to_us(rec.created_time),
        to_us(rec.last_updated_time),
        rec.execution_id,
        rec.version,
        rec.input,
        rec.output,
        rec.custom_status,
        rec.parent_instance_id,
        rec.entity_state,
        int(rec.entity_exists),
        etag,
    )


def update_values(rec: InstanceRecord, new_etag: int, old_etag: int) -> tuple[Any, ...]:
    v = instance_values(rec, new_etag)
    return (*v[1:], rec.instance_id, old_etag)


def row_to_instance(row: sqlite3.Row | tuple[Any, ...]) -> InstanceRecord:
    return InstanceRecord(
        instance_id=row[0],
        name=row[1],
        runtime_status=row[2],
        created_time=from_us(row[3]),
        last_updated_time=from_us(row[4]),
        execution_id=row[5],
        version=row[6],
        input=row[7],
        output=row[8],
        custom_status=row[9],
        parent_instance_id=row[10],
        entity_state=row[11],
        entity_exists=bool(row[12]),
        etag=row[13],
    )


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create or check the schema. Caller holds a write transaction (BEGIN IMMEDIATE), so two
    processes opening a fresh file at once cannot both create it."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StoreError(f"database schema v{version} is newer than this durable_local (v{SCHEMA_VERSION})")
    # v0 = fresh file; future versions add migrations here, one step at a time
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


Row = tuple[Message, str, str, str, int | None]  # original, queue, target, payload JSON, visible_at
MSG_COLS = "id, queue, target, payload, visible_at, dequeue_count, lease_token"
NEVER = -(2**62)  # stands in for NULL inside MAX(): "no constraint from this column"


def message(row: tuple[Any, ...]) -> Message:
    return Message(
        id=row[0],
        queue=row[1],
        target=row[2],
        payload=json.loads(row[3]),
        visible_at=opt_from_us(row[4]),
        dequeue_count=row[5],
        lease_token=row[6],
    )


def prepare(messages: Iterable[Message]) -> list[Row]:
    """Validate and serialize outside the transaction: keeps write locks short and makes a
    bad payload fail before anything is written."""
    rows = []
    for m in messages:
        if m.queue not in (ORCHESTRATOR_QUEUE, ACTIVITY_QUEUE):
            raise ValueError(f"unknown queue {m.queue!r}")
        rows.append((m, m.queue, m.target, dumps(m.payload), opt_to_us(m.visible_at)))
    return rows


def where(query: InstanceQuery) -> tuple[str, list[Any]]:
    """SQL for the filter part of a query; mirrors _common.matches (the reference)."""
    clauses = ["substr(instance_id, 1, 1) = '@'" if query.entities else "substr(instance_id, 1, 1) <> '@'"]
    args: list[Any] = []
    if query.runtime_status is not None:
        statuses = list(query.runtime_status)
        clauses.append(f"runtime_status IN ({', '.join('?' * len(statuses))})" if statuses else "0")
        args += statuses
    if query.created_from is not None:
        clauses.append("created_time >= ?")
        args.append(to_us(query.created_from))
    if query.created_to is not None:
        clauses.append("created_time <= ?")
        args.append(to_us(query.created_to))
    if query.instance_id_prefix:
        clauses.append("substr(instance_id, 1, ?) = ?")
        args += [len(query.instance_id_prefix), query.instance_id_prefix]
    return " AND ".join(clauses), args
