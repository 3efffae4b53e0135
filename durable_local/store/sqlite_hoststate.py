"""Host state on SQLite (see base.py): two small tables, created on first use so that
database files written before they existed keep working without a schema migration."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from ._common import to_us

_TABLES = (
    "CREATE TABLE IF NOT EXISTS host_values (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS host_locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires INTEGER NOT NULL)"
    " WITHOUT ROWID",
)
# the row is (re)written only when the lock is free, expired or already the caller's
_ACQUIRE = (
    "INSERT INTO host_locks (name, owner, expires) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires "
    "WHERE host_locks.expires <= ? OR host_locks.owner = excluded.owner"
)


class SqliteHostState:
    """Mixed into SqliteStore: uses its ``_tx`` (write transactions) and ``_read``."""

    _host_tables_ready = False
    _tx: Any
    _read: Any

    def _host_tx(self) -> AbstractContextManager[sqlite3.Connection]:
        tx: AbstractContextManager[sqlite3.Connection] = self._tx()
        return tx

    def _ensure_host_tables(self) -> None:
        if not self._host_tables_ready:
            with self._host_tx() as c:
                for statement in _TABLES:
                    c.execute(statement)
            self._host_tables_ready = True

    def get_host_value(self, key: str) -> str | None:
        self._ensure_host_tables()
        reader: AbstractContextManager[sqlite3.Connection] = self._read()
        with reader as c:
            row = c.execute("SELECT value FROM host_values WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_host_value(self, key: str, value: str) -> None:
        self._ensure_host_tables()
        with self._host_tx() as c:
            c.execute("INSERT OR REPLACE INTO host_values (key, value) VALUES (?, ?)", (key, str(value)))

    def acquire_host_lock(self, name: str, owner: str, now: datetime, seconds: float) -> bool:
        self._ensure_host_tables()
        start = to_us(now)
        with self._host_tx() as c:
            c.execute(_ACQUIRE, (name, owner, start + int(seconds * 1_000_000), start))
            return bool(c.execute("SELECT changes()").fetchone()[0])

    def release_host_lock(self, name: str, owner: str) -> None:
        self._ensure_host_tables()
        with self._host_tx() as c:
            c.execute("DELETE FROM host_locks WHERE name = ? AND owner = ?", (name, owner))
