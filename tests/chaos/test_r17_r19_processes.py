"""Host subprocesses on one SQLite file.

R17 — two hosts (``python -m durable_local start --store sqlite --data-dir SAME``) share one
file; orders are spread across both. Figures: all terminal; 0 duplicate completions (history
lint); ledger clean; integrity_check ok; 0 "database is locked" errors in either log.

R19 — SIGTERM while activities are in flight (every activity sleeps 1 s first, via
tests/chaos/fault_host.py ``FAULT_ACTIVITY_DELAY``). Figures: the host exits 0 within the grace
period; a restart finishes every order; nothing lost (ledger, payments, lint, integrity).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from pathlib import Path

import aiohttp
import pytest

from durable_local.store.sqlite import SqliteStore
from durable_local.testing.faults import assert_clean
from tests.chaos.kit import HostProcess, order_mix, set_stock, start_order, statuses

TERMINAL = {"Completed", "Failed", "Terminated"}
LOCKED = re.compile(r"database is locked|database table is locked|SQLITE_BUSY", re.I)


def _seed() -> int:
    return int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1 << 30))


async def wait_terminal(session: aiohttp.ClientSession, bases: list[str], ids: list[str],
                        timeout: float) -> list[str]:
    pending = list(ids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        st = await statuses(session, bases[0], pending)
        pending = [i for i in pending if st.get(i) not in TERMINAL]
        if pending:
            await asyncio.sleep(0.3)
    return pending


# -- R17 -------------------------------------------------------------------------------------------

async def run_r17(tmp: Path, n_orders: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    skus = [f"SKU-C{i}" for i in range(4)]
    initial = dict.fromkeys(skus, max(20, n_orders))
    orders, lines = order_mix(n_orders, skus, rng, prefix="r17")
    hosts = [HostProcess(tmp, name="host-a"), HostProcess(tmp, name="host-b")]
    started = time.monotonic()
    try:
        for h in hosts:
            h.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            for sku, qty in initial.items():
                await set_stock(session, hosts[0].base_url, sku, qty)
            gate = asyncio.Semaphore(16)

            async def submit(i: int, order: dict) -> None:
                async with gate:
                    await start_order(session, hosts[i % 2].base_url, order)

            await asyncio.gather(*(submit(i, o) for i, o in enumerate(orders.values())))
            pending = await wait_terminal(session, [h.base_url for h in hosts], list(orders), timeout=120)
            assert not pending, f"seed={seed}: {len(pending)} not terminal, e.g. {pending[:5]}"
        codes = [h.terminate(40) for h in hosts]
    finally:
        for h in hosts:
            h.stop()
    elapsed = time.monotonic() - started
    logs = [h.log_text() for h in hosts]
    locked = sum(len(LOCKED.findall(text)) for text in logs)
    tracebacks = sum(text.count("Traceback") for text in logs)
    store = SqliteStore(hosts[0].db_path)
    try:
        led = assert_clean(store, initial_stock=initial, order_lines=lines, sandbox_dir=tmp / "sandbox")
        assert led is not None
        per_host = [text.count("r17-") for text in logs]
        out = {"orders": n_orders, "terminal": sum(1 for s in led.statuses.values() if s in TERMINAL),
               "locked_errors": locked, "tracebacks": tracebacks, "exit_codes": codes,
               "log_mentions_per_host": per_host, "seconds": round(elapsed, 1), "seed": seed}
    finally:
        store.close()
    print(f"\nR17: {out}")
    assert locked == 0, f"'database is locked' surfaced {locked} times"
    assert codes == [0, 0]
    return out


@pytest.mark.timeout(240)
async def test_r17_two_host_processes_on_one_sqlite_file_sampled(tmp_path: Path) -> None:
    out = await run_r17(tmp_path, n_orders=40, seed=_seed())
    assert out["terminal"] == 40


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_r17_two_host_processes_on_one_sqlite_file_full(tmp_path: Path) -> None:
    out = await run_r17(tmp_path, n_orders=400, seed=_seed())
    assert out["terminal"] == 400


# -- R19 -------------------------------------------------------------------------------------------

GRACE = 30.0


async def run_r19(tmp: Path, n_orders: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    skus = ["SKU-G0", "SKU-G1"]
    initial = dict.fromkeys(skus, max(20, n_orders * 2))
    orders, lines = order_mix(n_orders, skus, rng, prefix="r19")
    host = HostProcess(tmp, faults="none")
    try:
        host.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            for sku, qty in initial.items():
                await set_stock(session, host.base_url, sku, qty)
            host.env["FAULT_ACTIVITY_DELAY"] = "1.0"  # from the restart on: every activity takes 1 s
            host.terminate(40)
            host.start()
            await asyncio.gather(*(start_order(session, host.base_url, o) for o in orders.values()))
            await asyncio.sleep(1.5)  # activities are running now
            store = SqliteStore(host.db_path)
            try:
                queued = store.count_messages(queue="activity")
            finally:
                store.close()
            t0 = time.monotonic()
            code = host.terminate(GRACE + 10)
            shutdown = time.monotonic() - t0
            host.env.pop("FAULT_ACTIVITY_DELAY")
            host.start()
            pending = await wait_terminal(session, [host.base_url], list(orders), timeout=90)
            assert not pending, f"seed={seed}: {len(pending)} not terminal after the restart, e.g. {pending[:5]}"
            host.terminate(40)
    finally:
        host.stop()
    log = host.log_text()
    store = SqliteStore(host.db_path)
    try:
        led = assert_clean(store, initial_stock=initial, order_lines=lines, sandbox_dir=tmp / "sandbox")
        assert led is not None
        out = {"orders": n_orders, "activity_items_at_sigterm": queued, "exit_code": code,
               "shutdown_s": round(shutdown, 2), "terminal_after_restart": sum(
                   1 for s in led.statuses.values() if s in TERMINAL),
               "stopping_logged": "finishing in-flight work" in log, "seed": seed}
    finally:
        store.close()
    print(f"\nR19: {out}")
    assert code == 0 and shutdown < GRACE
    assert queued > 0, "nothing was in flight at SIGTERM"
    return out


@pytest.mark.timeout(240)
async def test_r19_sigterm_with_activities_in_flight(tmp_path: Path) -> None:
    out = await run_r19(tmp_path, n_orders=20, seed=_seed())
    assert out["terminal_after_restart"] == 20
