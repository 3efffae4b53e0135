"""Fault injection and post-run checkers for the chaos suites (RELIABILITY R1–R19).

* ``fault_point(name)`` — the stores call it on every durable write of the commit path (names
  in ``durable_local.store.faultpoints``); a no-op unless a :class:`FaultPlan` is installed.
* :class:`FaultPlan` — "at the k-th hit (of the named points) raise / ``os._exit(137)`` /
  sleep / block on a semaphore", once or persistently; it records every hit so a clean run
  gives K for a sweep.
* :class:`CountingStore` — wraps any ``Store`` and fails its k-th *write call* (before or after
  delegating, once or from then on): the Netherite/SQLite "fail the k-th write" sweep.
* Checkers run at the end of every chaos test: :func:`history_lint`,
  :func:`inventory_ledger` / :func:`assert_inventory_consistent`, :func:`payments_ledger` and
  :func:`sqlite_integrity`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_local.engine.events import EventType, OrchestrationStatus
from durable_local.store.base import RUNNING_STATES, InstanceQuery, InstanceRecord, Store
from durable_local.store.faultpoints import fault_point, install, uninstall

__all__ = [
    "WRITE_POINTS",
    "CountingStore",
    "FaultInjected",
    "FaultPlan",
    "all_instances",
    "assert_clean",
    "assert_inventory_consistent",
    "fault_point",
    "history_lint",
    "inventory_ledger",
    "payments_ledger",
    "sqlite_integrity",
]

# every named point the stores call (durable_local.store.faultpoints)
WRITE_POINTS = (
    "create_instance.before_commit",
    "create_instance.after_commit",
    "enqueue.before_commit",
    "enqueue.after_commit",
    "commit.after_instance",
    "commit.after_history",
    "commit.after_outbox_enqueue",
    "commit.before_commit",
    "commit.after_commit",
    "complete_activity.before_commit",
    "complete_activity.after_activity_result_persist",
)


class FaultInjected(Exception):
    """Raised by an injected fault (an ordinary Exception: the runtime must survive it)."""


@dataclass
class FaultPlan:
    """A hook for ``fault_point``: counts hits of ``names`` (all points if None) and fires at
    hit number ``at`` (1-based; None = never, just count). ``persistent`` fires on every hit
    from ``at`` on until :meth:`disable`. Actions: ``raise`` (FaultInjected), ``exit``
    (``os._exit(137)``, a crash), ``sleep`` (``seconds``), ``block`` (wait on ``gate``)."""

    at: int | None = None
    action: str = "raise"
    names: Iterable[str] | None = None
    persistent: bool = False
    seconds: float = 0.0
    gate: threading.Event = field(default_factory=threading.Event)
    hits: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    enabled: bool = True
    on_fire: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self._names = None if self.names is None else frozenset(self.names)
        self._lock = threading.Lock()

    def __call__(self, name: str) -> None:
        if self._names is not None and name not in self._names:
            return
        with self._lock:
            self.hits.append(name)
            n = len(self.hits)
            fire = self.enabled and self.at is not None and (n == self.at or (self.persistent and n >= self.at))
            if fire:
                self.fired.append(name)
        if not fire:
            return
        if self.on_fire is not None:
            self.on_fire(name)
        if self.action == "exit":
            os._exit(137)
        if self.action == "sleep":
            time.sleep(self.seconds)
            return
        if self.action == "block":
            self.gate.wait()
            return
        raise FaultInjected(f"injected fault at {name} (hit {n})")

    def disable(self) -> None:
        self.enabled = False
        self.gate.set()

    def install(self) -> FaultPlan:
        install(self)
        return self

    def uninstall(self) -> None:
        uninstall(self)

    def __enter__(self) -> FaultPlan:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.disable()
        self.uninstall()


class CountingStore:
    """A ``Store`` proxy that counts write calls and fails the ``fail_at``-th one.

    ``mode="before"``: raise without delegating (nothing written); ``"after"``: delegate, then
    raise (written, caller told it failed — the ambiguous outcome). ``persistent`` fails every
    write from ``fail_at`` on until :meth:`disable`. Reads pass straight through.
    """

    WRITES = frozenset(
        {
            "create_instance",
            "enqueue",
            "commit_orchestration",
            "abandon_orchestration",
            "complete_activity",
            "abandon_activity",
            "purge_instance",
            "purge_instances",
            "set_instance_row",
        }
    )

    def __init__(
        self, inner: Store, fail_at: int | None = None, *, mode: str = "before", persistent: bool = False
    ) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.mode = mode
        self.persistent = persistent
        self.enabled = True
        self.calls: list[str] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()

    def disable(self) -> None:
        self.enabled = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in self.WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append(name)
                n = len(self.calls)
                k = self.fail_at
                fire = self.enabled and k is not None and (n == k or (self.persistent and n >= k))
                if fire:
                    self.failed.append(name)
            if fire and self.mode == "before":
                raise FaultInjected(f"injected failure of write #{n} ({name}) before it ran")
            result = attr(*args, **kwargs)
            if fire:
                raise FaultInjected(f"injected failure of write #{n} ({name}) after it ran")
            return result

        return write


# -- checkers ------------------------------------------------------------------------------------


def all_instances(store: Store, *, entities: bool = False) -> list[InstanceRecord]:
    return list(store.query_instances(InstanceQuery(top=0, entities=entities)).instances)


_COMPLETION_KEY = {
    EventType.TaskCompleted: ("TaskScheduledId", (EventType.TaskScheduled,)),
    EventType.TaskFailed: ("TaskScheduledId", (EventType.TaskScheduled,)),
    EventType.SubOrchestrationInstanceCompleted: ("TaskScheduledId", (EventType.SubOrchestrationInstanceCreated,)),
    EventType.SubOrchestrationInstanceFailed: ("TaskScheduledId", (EventType.SubOrchestrationInstanceCreated,)),
    EventType.TimerFired: ("TimerId", (EventType.TimerCreated,)),
}
_SCHEDULING = (
    EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCreated,
    EventType.TimerCreated,
    EventType.EventSent,
)


def implied_status(history: list[dict[str, Any]]) -> str | None:
    """The runtime status the history implies (None: still running, any running state)."""
    done = [e for e in history if e["EventType"] == EventType.ExecutionCompleted]
    if not done:
        return None
    return OrchestrationStatus(done[-1].get("OrchestrationStatus", 0)).name


def lint_history(instance_id: str, history: list[dict[str, Any]], row: InstanceRecord | None) -> list[str]:
    """Problems in one orchestration's history (RELIABILITY "history lint"); [] if clean."""
    out: list[str] = []
    types = [e["EventType"] for e in history]
    started = types.count(EventType.ExecutionStarted)
    if history and started != 1:
        out.append(f"{instance_id}: {started} ExecutionStarted events (want exactly 1)")
    completed = [i for i, t in enumerate(types) if t == EventType.ExecutionCompleted]
    if len(completed) > 1:
        out.append(f"{instance_id}: {len(completed)} ExecutionCompleted events")
    if completed:
        tail = [EventType(t).name for t in types[completed[-1] + 1 :] if t != EventType.OrchestratorCompleted]
        if tail:
            out.append(f"{instance_id}: events after ExecutionCompleted: {tail}")
    scheduled: dict[tuple[int, int | None], int] = {}  # (kind, EventId): a malformed event may lack the id
    seen: Counter[tuple[int, int | None]] = Counter()
    ids = []
    for i, e in enumerate(history):
        t = e["EventType"]
        if t in _SCHEDULING or (t == EventType.ExecutionCompleted and e.get("EventId", -1) >= 0):
            ids.append(e.get("EventId"))  # (a terminate's ExecutionCompleted carries EventId -1)
        if t in _SCHEDULING:
            scheduled[(t, e.get("EventId"))] = i
        if t in _COMPLETION_KEY:
            key_name, kinds = _COMPLETION_KEY[EventType(t)]
            ref = e.get(key_name)
            origin = [scheduled.get((k, ref)) for k in kinds]
            if not any(o is not None and o < i for o in origin):
                out.append(f"{instance_id}: {EventType(t).name} #{i} refers to unscheduled id {ref}")
            seen[(int(kinds[0]), ref)] += 1
    for (kind, ref), n in seen.items():
        if n > 1:
            out.append(f"{instance_id}: {n} completions of {EventType(kind).name} id {ref}")
    if ids != list(range(len(ids))):
        out.append(f"{instance_id}: EventIds of scheduling events not contiguous: {ids}")
    if row is not None:
        implied = implied_status(history)
        if implied is None and row.runtime_status not in RUNNING_STATES:
            out.append(f"{instance_id}: row says {row.runtime_status} but the history is still running")
        if implied is not None and implied != row.runtime_status:
            out.append(f"{instance_id}: row says {row.runtime_status}, history says {implied}")
    return out


def history_lint(store: Store, instance_ids: Iterable[str] | None = None) -> list[str]:
    """Lint every orchestration (or the given ones); for SQLite also check the stored
    ``seq`` column is contiguous from 0 per instance."""
    rows = {r.instance_id: r for r in all_instances(store)}
    ids = list(rows) if instance_ids is None else list(instance_ids)
    problems: list[str] = []
    for iid in ids:
        problems += lint_history(iid, store.get_history(iid), rows.get(iid) or store.get_instance(iid))
    path = getattr(store, "path", None)
    if path is not None and str(path).endswith((".db", ".sqlite", ".sqlite3")):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
            for iid, n, lo, hi in c.execute(
                "SELECT instance_id, COUNT(*), MIN(seq), MAX(seq) FROM history GROUP BY instance_id"
            ):
                if lo != 0 or hi != n - 1:
                    problems.append(f"{iid}: history seq not contiguous ({n} rows, {lo}..{hi})")
    return problems


def sqlite_integrity(path: Path | str) -> str:
    with sqlite3.connect(str(path)) as c:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])


# -- inventory ledger --------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the order histories and the entities say about stock."""

    # (order, sku) -> successful reserve responses / releases / commits / restocks (units)
    reserved: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    reserved_lines: dict[tuple[str, str], list[str | None]] = field(default_factory=lambda: defaultdict(list))
    released: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    committed: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    restocked: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    entities: dict[str, dict[str, int]] = field(default_factory=dict)  # sku -> {quantity, reserved}
    outputs: dict[str, Any] = field(default_factory=dict)  # order id -> OrderResult dict (or None)
    statuses: dict[str, str] = field(default_factory=dict)


def _units(op: str, request: Any, result: Any) -> tuple[int, str | None]:
    """Units an InventoryEntity call moved, and its line: a number (seed style) or an owned claim."""
    if not isinstance(request, dict):
        return int(request), None
    line = request.get("line")
    if op == "reserve":
        return int(request.get("quantity") or 0), line
    moved = result.get({"release": "released", "commit": "committed"}.get(op, ""), 0) if isinstance(result, dict) else 0
    return int(moved or 0), line


def _entity_calls(history: list[dict[str, Any]]) -> list[tuple[str, str, int, Any, str | None]]:
    """(sku, op, units, result, line) for every answered InventoryEntity request in a history."""
    responses = {e.get("Name"): e.get("Input") for e in history if e["EventType"] == EventType.EventRaised}
    out = []
    for e in history:
        if e["EventType"] != EventType.EventSent or not str(e.get("InstanceId", "")).lower().startswith(
            "@inventoryentity@"
        ):
            continue
        req = json.loads(e.get("Input") or "{}")
        sku = str(e["InstanceId"]).split("@", 2)[2]
        amount = req.get("input")
        for _ in range(3):
            if isinstance(amount, str):
                amount = json.loads(amount)
        raw = responses.get(req.get("id"))
        if raw is None:
            continue  # not answered (yet)
        body = json.loads(raw)
        result = body.get("result")
        if body.get("exceptionType"):
            result = Exception(result)
        else:
            result = json.loads(result) if isinstance(result, str) else result
        units, line = _units(req.get("op"), amount, result)
        out.append((sku, req.get("op"), units, result, line))
    return out


def inventory_ledger(store: Store, order_ids: Iterable[str]) -> Ledger:
    led = Ledger()
    for oid in order_ids:
        row = store.get_instance(oid)
        led.statuses[oid] = row.runtime_status if row else "Missing"
        led.outputs[oid] = json.loads(row.output) if row and row.output and row.runtime_status == "Completed" else None
        for iid in (oid, f"{oid}:payment", f"{oid}:fulfillment"):
            for sku, op, amount, result, line in _entity_calls(store.get_history(iid)):
                if isinstance(result, Exception):
                    continue
                if op == "reserve" and result is True:
                    led.reserved[(oid, sku)].append(amount)
                    led.reserved_lines[(oid, sku)].append(line)
                elif op == "release":
                    led.released[(oid, sku)] += amount
                elif op == "commit":
                    led.committed[(oid, sku)] += amount
                elif op == "add":
                    led.restocked[(oid, sku)] += amount
    for rec in all_instances(store, entities=True):
        if rec.instance_id.lower().startswith("@inventoryentity@") and rec.entity_state:
            led.entities[rec.instance_id.split("@", 2)[2]] = json.loads(rec.entity_state)
    return led


def ledger_problems(
    led: Ledger, initial_stock: Mapping[str, int], order_lines: Mapping[str, Mapping[str, int]]
) -> list[str]:
    """Inventory invariants at quiescence. ``order_lines``: order id -> {sku: units}."""
    out: list[str] = []
    for key, amounts in led.reserved.items():
        line_ids = led.reserved_lines.get(key, [])
        if len(set(line_ids)) < len(line_ids):  # one successful reserve per (order, sku, line)
            out.append(f"{key}: reserved {len(amounts)} times ({amounts}, lines {line_ids})")
    sold: Counter[str] = Counter()
    for oid, lines in order_lines.items():
        status = led.statuses.get(oid)
        if status not in ("Completed", "Failed", "Terminated"):
            out.append(f"{oid}: not terminal ({status})")
        result = led.outputs.get(oid) or {}
        done = result.get("status") == "completed"
        for sku, units in lines.items():
            k = (oid, sku)
            net = sum(led.reserved.get(k, [])) - led.released.get(k, 0) - led.committed.get(k, 0)
            if net != 0:
                out.append(f"{k}: net reservation {net} left at quiescence")
            shipped = led.committed.get(k, 0) - led.restocked.get(k, 0)
            if done and shipped != units:
                out.append(f"{k}: completed but shipped {shipped} units, ordered {units}")
            if not done and shipped != 0:
                out.append(f"{k}: {result.get('status') or status} but {shipped} units left the warehouse")
            if done:
                sold[sku] += units
    for sku, initial in initial_stock.items():
        state = led.entities.get(sku, {"quantity": 0, "reserved": 0})
        if state.get("reserved", 0) != 0:
            out.append(f"{sku}: reserved == {state.get('reserved')} at quiescence")
        if initial != state.get("quantity", 0) + sold[sku]:
            final = state.get("quantity")
            out.append(f"{sku}: stock not conserved: initial {initial} != final {final} + sold {sold[sku]}")
        if state.get("quantity", 0) < 0:
            out.append(f"{sku}: negative stock {state}")
    return out


def assert_inventory_consistent(
    store: Store, initial_stock: Mapping[str, int], order_lines: Mapping[str, Mapping[str, int]]
) -> Ledger:
    led = inventory_ledger(store, order_lines)
    problems = ledger_problems(led, initial_stock, order_lines)
    assert not problems, "inventory ledger:\n" + "\n".join(problems[:50])
    return led


def payments_ledger(sandbox_dir: Path | str, led: Ledger) -> list[str]:
    """Captured, unrefunded payments == completed orders (from the sandbox gateway's file)."""
    path = Path(sandbox_dir) / "sandbox.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(str(path)) as c:
        rows = c.execute("SELECT order_id, status, refunded FROM payments").fetchall()
    kept: Counter[str] = Counter(o for o, s, r in rows if s == "success" and not r)
    out = []
    for oid in led.statuses:
        done = (led.outputs.get(oid) or {}).get("status") == "completed"
        if kept[oid] != (1 if done else 0):
            out.append(f"{oid}: {kept[oid]} kept captures, order {'completed' if done else 'not completed'}")
    return out


def assert_clean(
    store: Store,
    *,
    initial_stock: Mapping[str, int] | None = None,
    order_lines: Mapping[str, Mapping[str, int]] | None = None,
    sandbox_dir: Path | str | None = None,
) -> Ledger | None:
    """The end-of-test check of every chaos test: lint, ledger, payments, integrity."""
    problems = history_lint(store)
    led = None
    if order_lines is not None:
        led = inventory_ledger(store, order_lines)
        problems += ledger_problems(led, initial_stock or {}, order_lines)
        if sandbox_dir is not None:
            problems += payments_ledger(sandbox_dir, led)
    path = getattr(store, "path", None)
    if path is not None:
        integrity = sqlite_integrity(path)
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:50])
    return led
