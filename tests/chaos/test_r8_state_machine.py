"""R8 — Hypothesis RuleBasedStateMachine over one InventoryEntity: reserve / release / commit /
add / restart the host (SQLite, same file). After every step the entity's persisted state
equals the sequential model (and stock is never negative, reserved never above quantity).

``make test``: 20 examples x 20 steps; ``make test-full`` (slow): 200 examples x 50 steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from durable_local.testing import running_host
from tests.chaos.kit import REPO

W = "/runtime/webhooks/durabletask"
SKU = "SKU-R8SM"
ENTITY = f"@inventoryentity@{SKU}"


class LoopThread:
    """An event loop on a thread, so the (synchronous) state machine can drive an async host."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class HostRunner:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.cm: Any = None
        self.h: Any = None

    async def start(self) -> None:
        self.cm = running_host(REPO, store="sqlite", data_dir=self.data_dir)
        self.h = await self.cm.__aenter__()

    async def stop(self) -> None:
        if self.cm is not None:
            await self.cm.__aexit__(None, None, None)
            self.cm = self.h = None

    async def signal(self, op: str, amount: int) -> None:
        code, _, _ = await self.h.post(f"{W}/entities/InventoryEntity/{SKU}?op={op}", json=json.dumps(amount))
        assert code == 202, code
        deadline = time.monotonic() + 10
        while self.h.store.count_messages(target=ENTITY) > 0:  # processed (applied or rejected)
            assert time.monotonic() < deadline, "entity operation not processed in 10 s"
            await asyncio.sleep(0.002)

    def state(self) -> dict[str, int]:
        rec = self.h.store.get_instance(ENTITY)
        return json.loads(rec.entity_state) if rec and rec.entity_state else {"quantity": 0, "reserved": 0}


class InventoryMachine(RuleBasedStateMachine):
    loop: LoopThread
    totals: dict[str, int] = {"steps": 0, "restarts": 0, "examples": 0}

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory(prefix="r8sm-")
        self.host = HostRunner(Path(self.tmp.name) / "d")
        self.loop.run(self.host.start())
        self.model = {"quantity": 0, "reserved": 0}
        self.totals["examples"] += 1

    @initialize(stock=st.integers(1, 20))
    def stock(self, stock: int) -> None:
        self.loop.run(self.host.signal("add", stock))
        self.model["quantity"] += stock

    @rule(n=st.integers(1, 6))
    def reserve(self, n: int) -> None:
        self.loop.run(self.host.signal("reserve", n))
        if n <= self.model["quantity"] - self.model["reserved"]:  # else rejected: nothing changes
            self.model["reserved"] += n

    @rule(n=st.integers(1, 6))
    def release(self, n: int) -> None:
        self.loop.run(self.host.signal("release", n))
        if n <= self.model["reserved"]:  # else the operation fails: nothing changes
            self.model["reserved"] -= n

    @precondition(lambda self: self.model["reserved"] > 0)
    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(1, self.model["reserved"]))
        self.loop.run(self.host.signal("commit", n))
        self.model["reserved"] -= n
        self.model["quantity"] -= n

    @rule(n=st.integers(1, 5))
    def add(self, n: int) -> None:
        self.loop.run(self.host.signal("add", n))
        self.model["quantity"] += n

    @rule()
    def restart_host(self) -> None:
        self.loop.run(self.host.stop())
        self.loop.run(self.host.start())
        self.totals["restarts"] += 1

    @invariant()
    def entity_matches_model(self) -> None:
        if self.host.h is None:
            return
        self.totals["steps"] += 1
        state = self.host.state()
        assert state == self.model, (state, self.model)
        assert 0 <= state["reserved"] <= state["quantity"]

    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.run(self.host.stop())
        self.tmp.cleanup()


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, examples: int, steps: int) -> None:
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))
    InventoryMachine.loop = LoopThread()
    InventoryMachine.totals = {"steps": 0, "restarts": 0, "examples": 0}
    try:
        test = InventoryMachine.TestCase
        test.settings = settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                                 suppress_health_check=list(HealthCheck))
        test().runTest()
    finally:
        InventoryMachine.loop.close()
    t = InventoryMachine.totals
    print(f"\nR8 state machine: {t['examples']} examples (max {examples}) x up to {steps} steps: {t['steps']} checked "
          f"steps, {t['restarts']} host restarts; entity == model after every step")


@pytest.mark.timeout(240)
def test_r8_state_machine_sampled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _run(monkeypatch, tmp_path, examples=20, steps=20)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_r8_state_machine_full(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _run(monkeypatch, tmp_path, examples=200, steps=50)
