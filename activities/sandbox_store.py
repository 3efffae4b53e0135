"""SQLite persistence for the local sandbox adapters (payments, shipments, outbox, attempts).

One file, ``$SANDBOX_DATA_DIR/sandbox.sqlite3`` (default ``.sandbox`` in the working directory).
Writes run under ``BEGIN IMMEDIATE`` with a busy timeout so concurrent activity invocations
(several worker threads or processes) serialise cleanly.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = ".sandbox"
DB_FILE = "sandbox.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    charge_key TEXT PRIMARY KEY, payment_id TEXT, status TEXT NOT NULL, amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL, order_id TEXT NOT NULL, reason TEXT, refunded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refunds (
    refund_key TEXT PRIMARY KEY, refund_id TEXT NOT NULL, payment_id TEXT NOT NULL,
    amount_cents INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS shipments (
    shipment_key TEXT PRIMARY KEY, shipment_id TEXT NOT NULL, tracking_number TEXT NOT NULL,
    carrier TEXT NOT NULL, order_id TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    notification_key TEXT PRIMARY KEY, notification_id TEXT NOT NULL, kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (attempt_key TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (record_key TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL);
"""


_initialised: set[Path] = set()


def data_dir() -> Path:
    """The sandbox directory from ``SANDBOX_DATA_DIR`` (read on every call so tests can redirect it)."""
    return Path(os.environ.get("SANDBOX_DATA_DIR") or DEFAULT_DATA_DIR)


class SandboxStore:
    """Tiny transactional key/value-ish store over SQLite."""

    def __init__(self, path: Path | None = None) -> None:
        directory = data_dir() if path is None else path
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / DB_FILE

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); commits on success, rolls back on error."""
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            if self.path not in _initialised:
                conn.executescript(_SCHEMA)
                _initialised.add(self.path)
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Read rows as dicts."""
        with self.transaction() as conn:
            return [dict(row) for row in conn.execute(sql, params).fetchall()]

    def bump_attempt(self, key: str) -> int:
        """Increment and return the attempt counter for ``key`` (1 on the first call)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO attempts(attempt_key, count) VALUES (?, 1) "
                "ON CONFLICT(attempt_key) DO UPDATE SET count = count + 1",
                (key,),
            )
            return int(conn.execute("SELECT count FROM attempts WHERE attempt_key = ?", (key,)).fetchone()[0])

    def put_record_once(self, key: str, kind: str, payload: Any) -> dict[str, Any]:
        """Store ``payload`` under ``key`` unless present; return the stored payload either way."""
        with self.transaction() as conn:
            row = conn.execute("SELECT payload FROM records WHERE record_key = ?", (key,)).fetchone()
            if row is not None:
                return json.loads(row[0])
            conn.execute(
                "INSERT INTO records(record_key, kind, payload) VALUES (?, ?, ?)",
                (key, kind, json.dumps(payload, sort_keys=True)),
            )
            return payload
