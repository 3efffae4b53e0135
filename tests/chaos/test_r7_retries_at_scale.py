"""R7 at the catalogue's scale: activities fail at rate p in {0.1, 0.3, 0.5}, half of the
failures after the side effect, RetryOptions(1000 ms, 5 attempts), saga compensation
(tests/chaos/r7_app). In-process host, virtual clock (one second per cycle once idle).

Figures: every order terminal; per SKU stock_initial = stock_final + units of completed orders
and reserved == 0; captured (unrefunded) payments == completed orders; refunds == charges of
compensated orders; every attempt scheduled in a history ran exactly once (ledger == history);
each retry is TaskFailed -> TimerCreated (fire = the failure's episode time + 1 s) -> TimerFired ->
TaskScheduled (the last attempt's failure: a zero-delay timer, as DTFx's RetryInterceptor adds);
mean attempts per step within +-10 % of the truncated-geometric (1 - p^5) / (1 - p).

Sampled sizes run in ``make test`` (fixed seed: the faults are a function of it); the full
size (500 orders per p) is marked slow:
    .venv/bin/python -m pytest -q -s -m slow tests/chaos/test_r7_retries_at_scale.py
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from durable_local.engine.events import EventType, parse_timestamp
from durable_local.runtime.clock import VirtualClock
from durable_local.store import open_store
from durable_local.store.base import TERMINAL_STATES, Store
from durable_local.testing import running_host
from durable_local.testing.ambiguous import AmbiguousStore
from durable_local.testing.faults import history_lint
from tests.chaos.kit import host_idle

R7_APP = Path(__file__).with_name("r7_app")
ATTEMPTS = 5
FORWARD = ("Reserve", "Charge", "Ship")
SKUS = ["SKU-7A", "SKU-7B", "SKU-7C"]
STOCK = 1_000_000
WEBHOOK = "/runtime/webhooks/durabletask"


def expected_attempts(p: float, n: int = ATTEMPTS) -> float:
    """Mean of min(Geometric(1 - p), n): sum of p^k for k < n."""
    return (1 - p**n) / (1 - p)


def cases() -> list[Any]:
    sampled = [pytest.param(p, 20, id=f"p{p}-20") for p in (0.1, 0.3, 0.5)]
    full = [pytest.param(p, 500, marks=pytest.mark.slow, id=f"p{p}-500") for p in (0.1, 0.3, 0.5)]
    return sampled + full


def read_ledger(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with contextlib.closing(sqlite3.connect(path)) as c:
        tables = ("stock", "reservations", "payments", "attempts")
        return {t: c.execute(f"SELECT * FROM {t}").fetchall() for t in tables}


def activity_input(scheduled: dict[str, Any]) -> dict[str, Any]:
    """The input of a TaskScheduled event (stored as the SDK sends it: JSON text, maybe in a list)."""
    value: Any = scheduled.get("Input")
    for _ in range(3):
        if isinstance(value, str):
            value = json.loads(value)
        elif isinstance(value, list) and value:
            value = value[0]
    assert isinstance(value, dict), scheduled
    return value


def retry_problems(iid: str, history: list[dict[str, Any]]) -> tuple[list[str], int]:
    """Check the shape of every retry; returns (problems, number of retries).

    A retry is TaskFailed -> TimerCreated -> TimerFired -> TaskScheduled (same activity), the
    timer created by the episode that saw the failure and firing 1 s later (coefficient 1).
    After the last attempt DTFx's RetryInterceptor adds a zero-delay timer before the failure
    reaches the orchestrator: TaskFailed -> TimerCreated(+0 s) -> TimerFired, then compensation."""
    ev = [e for e in history if e["EventType"] not in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted)]
    names = {e["EventId"]: e["Name"] for e in ev if e["EventType"] == EventType.TaskScheduled}
    out, retries = [], 0
    for i, e in enumerate(ev):
        if e["EventType"] != EventType.TaskFailed:
            continue
        kinds = [x["EventType"] for x in ev[i : i + 4]]
        if kinds[:3] != [EventType.TaskFailed, EventType.TimerCreated, EventType.TimerFired]:
            out.append(f"{iid}: failure #{i} is followed by {[EventType(k).name for k in kinds]}")
            continue
        fire = parse_timestamp(ev[i + 1]["FireAt"])
        interval = (fire - parse_timestamp(ev[i + 1]["Timestamp"])).total_seconds()
        failed = names.get(e["TaskScheduledId"])
        if abs(interval) < 0.001:  # the last attempt's zero-delay timer
            # (compensations start a new round of attempts; a forward step is never called again)
            if len(kinds) > 3 and kinds[3] == EventType.TaskScheduled and ev[i + 3]["Name"] == failed in FORWARD:
                out.append(f"{iid}: {failed} retried after its last attempt")
            continue
        retries += 1
        after_failure = (fire - parse_timestamp(e["Timestamp"])).total_seconds()
        if abs(interval - 1.0) > 0.001 or after_failure < 1.0:
            out.append(f"{iid}: timer at +{interval:.3f} s from its episode, +{after_failure:.3f} s from the failure")
        if len(kinds) < 4 or kinds[3] != EventType.TaskScheduled or ev[i + 3]["Name"] != failed:
            out.append(f"{iid}: the retry of {failed} is not a TaskScheduled of it")
    return out, retries


@pytest.mark.timeout(3600)
@pytest.mark.parametrize(("p", "n"), cases())
async def test_r7_activity_failures_retries_and_compensation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, p: float, n: int
) -> None:
    seed = int(os.environ.get("R7_SEED", "7"))
    ledger_path = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("R7_LEDGER", str(ledger_path))
    monkeypatch.setenv("R7_FAILURE_RATE", str(p))
    monkeypatch.setenv("R7_SEED", str(seed))
    rng = random.Random(seed)
    orders = {f"r7-{i:04d}": {"sku": rng.choice(SKUS), "units": rng.randint(1, 3), "amount": 100 * rng.randint(1, 50)}
              for i in range(n)}
    with contextlib.closing(sqlite3.connect(ledger_path)) as c:
        c.executescript("CREATE TABLE stock (sku TEXT PRIMARY KEY, quantity INTEGER, reserved INTEGER);")
        c.executemany("INSERT INTO stock VALUES (?, ?, 0)", [(s, STOCK) for s in SKUS])
        c.commit()

    counting: AmbiguousStore | None = None

    def factory(clock: VirtualClock) -> Store:
        nonlocal counting  # faults stay off: the proxy only tells the driver when the host is idle
        counting = AmbiguousStore(open_store("sqlite", tmp_path / "d", clock=clock.now), seed)
        return counting  # type: ignore[return-value]

    started = time.monotonic()
    async with running_host(R7_APP, store="sqlite", data_dir=tmp_path / "d", store_factory=factory) as h:
        assert counting is not None
        store = counting.inner
        for oid, order in orders.items():
            code, _, _ = await h.post(f"{WEBHOOK}/orchestrators/R7Order/{oid}", json=order)
            assert code == 202, code
        cycles, deadline = 0, time.monotonic() + 60 + 3 * n
        while time.monotonic() < deadline:
            await host_idle(h, counting.empty_claims)
            rows = [store.get_instance(oid) for oid in orders]
            if all(r is not None and r.runtime_status in TERMINAL_STATES for r in rows):
                break
            cycles += 1
            h.clock_advance(seconds=1)
        rows = [store.get_instance(oid) for oid in orders]
        late = [oid for oid, r in zip(orders, rows, strict=True) if r is None or r.runtime_status != "Completed"]
        assert not late, f"not completed: {late[:5]} (seed {seed})"
        results = {oid: json.loads(r.output)["status"] for oid, r in zip(orders, rows, strict=True) if r and r.output}
        histories = {oid: store.get_history(oid) for oid in orders}
        lint = history_lint(store)
    assert not lint, lint[:10]

    led = read_ledger(ledger_path)
    completed = {oid for oid, s in results.items() if s == "completed"}
    compensated = {oid for oid, s in results.items() if s == "compensated"}
    assert completed | compensated == set(orders), Counter(results.values())
    problems: list[str] = []
    sold: Counter[str] = Counter()
    for oid in completed:
        sold[orders[oid]["sku"]] += orders[oid]["units"]
    for sku, quantity, reserved in led["stock"]:
        if quantity + sold[sku] != STOCK:
            problems.append(f"{sku}: initial {STOCK} != final {quantity} + sold {sold[sku]}")
        if reserved != 0:
            problems.append(f"{sku}: reserved {reserved} at quiescence")
    kept = {key.rsplit(":", 1)[0] for key, _, refunded in led["payments"] if not refunded}
    refunded = {key.rsplit(":", 1)[0] for key, _, r in led["payments"] if r}
    charged_and_compensated = {key.rsplit(":", 1)[0] for key, _, _ in led["payments"]} & compensated
    if kept != completed:
        problems.append(f"captured payments {len(kept)} != completed orders {len(completed)}")
    if refunded != charged_and_compensated:
        problems.append(f"refunds {len(refunded)} != charges of compensated orders {len(charged_and_compensated)}")
    for key, _, _, state in led["reservations"]:
        oid = key.rsplit(":", 1)[0]
        want = {"shipped"} if oid in completed else {"released", "returned"}
        if state not in want:
            problems.append(f"{key}: reservation {state}, order {results[oid]}")
    # every attempt in a history ran exactly once, and nothing ran that no history scheduled
    attempts: dict[tuple[str, str], int] = Counter((a, k) for a, k, _, _ in led["attempts"])
    scheduled: Counter[tuple[str, str]] = Counter()
    retries = 0
    for oid, history in histories.items():
        for e in history:
            if e["EventType"] == EventType.TaskScheduled:
                scheduled[(e["Name"], activity_input(e)["key"])] += 1
        shape, count = retry_problems(oid, history)
        problems += shape
        retries += count
    if scheduled != attempts:
        diff = {k: (scheduled[k], attempts.get(k, 0)) for k in set(scheduled) | set(attempts)
                if scheduled[k] != attempts.get(k, 0)}
        problems.append(f"scheduled != executed attempts: {list(diff.items())[:5]}")
    assert not problems, f"seed {seed}:\n" + "\n".join(problems[:30])

    per_step: dict[str, list[int]] = defaultdict(list)
    for (activity, _), count in attempts.items():
        if activity in FORWARD:
            per_step[activity].append(count)
    all_calls = [c for counts in per_step.values() for c in counts]
    assert max(all_calls) <= ATTEMPTS
    mean, want = sum(all_calls) / len(all_calls), expected_attempts(p)
    fates = Counter(f for _, _, _, f in led["attempts"])
    print(
        f"\nR7 p={p} n={n} seed={seed}: {n}/{n} terminal ({len(completed)} completed, {len(compensated)} compensated) "
        f"in {cycles} virtual s, {time.monotonic() - started:.0f} s wall; {len(all_calls)} step calls, mean attempts "
        f"{mean:.4f} vs truncated-geometric {want:.4f} ({(mean / want - 1) * 100:+.1f} %); attempts {dict(fates)}; "
        f"{retries} retries, each TaskFailed->TimerCreated(+1 s)->TimerFired->TaskScheduled; ledger clean"
    )
    assert abs(mean / want - 1) <= 0.10, (mean, want, seed)
