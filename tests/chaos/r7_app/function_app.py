"""R7's test app: an order saga whose activities fail at a seeded rate p, half of the
failures *after* the side effect, with the catalogue's policy RetryOptions(1000 ms, 5 attempts).

Reserve -> Charge -> Ship, each idempotent by its key; when a step runs out of attempts the
saga compensates (Refund, Release: also idempotent, also failing at rate p, retried until they
succeed). The effects and every attempt are written to a SQLite ledger (``R7_LEDGER``) that
the test checks; ``R7_FAILURE_RATE`` and ``R7_SEED`` choose the faults. A test fixture, not
part of the deployable app.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=5)
COMPENSATION_ROUNDS = 20  # compensation must succeed: retried in rounds of RETRY


class InjectedFailure(RuntimeError):
    """The fault R7 injects into an activity."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, quantity INTEGER, reserved INTEGER);
CREATE TABLE IF NOT EXISTS reservations (key TEXT PRIMARY KEY, sku TEXT, units INTEGER, state TEXT);
CREATE TABLE IF NOT EXISTS payments (key TEXT PRIMARY KEY, amount INTEGER, refunded INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS attempts (activity TEXT, key TEXT, n INTEGER, outcome TEXT);
"""


def ledger() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ["R7_LEDGER"], timeout=30, isolation_level=None)
    conn.executescript(SCHEMA)
    return conn


def _fate(activity: str, key: str, n: int) -> str:
    """'ok', 'before' (fail, no effect) or 'after' (effect applied, then fail): seeded, p each."""
    p = float(os.environ.get("R7_FAILURE_RATE", "0"))
    digest = hashlib.sha256(f"{os.environ.get('R7_SEED', '0')}|{activity}|{key}|{n}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < p / 2:
        return "before"
    return "after" if u < p else "ok"


def _attempt(activity: str, key: str, effect: Any) -> None:
    """One attempt: decide its fate, apply ``effect(conn)`` unless it fails before, record it."""
    with contextlib.closing(ledger()) as conn:
        conn.execute("BEGIN IMMEDIATE")
        n = conn.execute("SELECT COUNT(*) FROM attempts WHERE activity = ? AND key = ?", (activity, key)).fetchone()[0]
        fate = _fate(activity, key, n + 1)
        if fate != "before":
            effect(conn)
        conn.execute("INSERT INTO attempts VALUES (?, ?, ?, ?)", (activity, key, n + 1, fate))
        conn.execute("COMMIT")
    if fate != "ok":
        raise InjectedFailure(f"{activity} {key}: attempt {n + 1} failed ({fate} the side effect)")


@app.activity_trigger(input_name="req")
def Reserve(req: dict) -> bool:
    def effect(c: sqlite3.Connection) -> None:
        if c.execute("SELECT 1 FROM reservations WHERE key = ?", (req["key"],)).fetchone() is None:
            c.execute("INSERT INTO reservations VALUES (?, ?, ?, 'held')", (req["key"], req["sku"], req["units"]))
            c.execute("UPDATE stock SET reserved = reserved + ? WHERE sku = ?", (req["units"], req["sku"]))

    _attempt("Reserve", req["key"], effect)
    return True


@app.activity_trigger(input_name="req")
def Charge(req: dict) -> bool:
    def effect(c: sqlite3.Connection) -> None:
        c.execute("INSERT OR IGNORE INTO payments (key, amount) VALUES (?, ?)", (req["key"], req["amount"]))

    _attempt("Charge", req["key"], effect)
    return True


def _move(c: sqlite3.Connection, key: str, old: str, new: str, stock: int, reserved: int) -> None:
    row = c.execute("SELECT sku, units FROM reservations WHERE key = ? AND state = ?", (key, old)).fetchone()
    if row is not None:
        c.execute("UPDATE reservations SET state = ? WHERE key = ?", (new, key))
        c.execute(
            "UPDATE stock SET quantity = quantity + ?, reserved = reserved + ? WHERE sku = ?",
            (stock * row[1], reserved * row[1], row[0]),
        )


@app.activity_trigger(input_name="req")
def Ship(req: dict) -> bool:
    _attempt("Ship", req["key"], lambda c: _move(c, req["key"], "held", "shipped", -1, -1))
    return True


@app.activity_trigger(input_name="req")
def Release(req: dict) -> bool:
    def effect(c: sqlite3.Connection) -> None:
        _move(c, req["key"], "held", "released", 0, -1)
        _move(c, req["key"], "shipped", "returned", +1, 0)

    _attempt("Release", req["key"], effect)
    return True


@app.activity_trigger(input_name="req")
def Refund(req: dict) -> bool:
    _attempt("Refund", req["key"], lambda c: c.execute("UPDATE payments SET refunded = 1 WHERE key = ?", (req["key"],)))
    return True


def _compensate(context: df.DurableOrchestrationContext, name: str, key: str) -> Generator[Any, Any, None]:
    for _ in range(COMPENSATION_ROUNDS):
        try:
            yield context.call_activity_with_retry(name, RETRY, {"key": key})
            return
        except Exception:
            continue
    raise RuntimeError(f"{name} {key} did not succeed in {COMPENSATION_ROUNDS} rounds")


@app.orchestration_trigger(context_name="context")
def R7Order(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    order = context.get_input()
    reserve_key, charge_key = f"{context.instance_id}:reserve", f"{context.instance_id}:charge"
    steps = [
        ("Reserve", {"key": reserve_key, "sku": order["sku"], "units": order["units"]}),
        ("Charge", {"key": charge_key, "amount": order["amount"]}),
        ("Ship", {"key": reserve_key}),
    ]
    for name, request in steps:
        try:
            yield context.call_activity_with_retry(name, RETRY, request)
        except Exception:
            # any step may have taken effect on an attempt that then failed: undo both
            yield from _compensate(context, "Refund", charge_key)
            yield from _compensate(context, "Release", reserve_key)
            return {"status": "compensated", "failedStep": name}
    return {"status": "completed"}
