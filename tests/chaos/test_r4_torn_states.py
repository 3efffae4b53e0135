"""R4: torn states, built by hand in each store, repaired within one dispatcher cycle.

The states are what a crash (or a lost reply) between two writes leaves behind; ``Hand``
drives the engine and the store directly, the way a host that died half-way would have:

(a) the history ends with ExecutionCompleted, but the status row says Running (the Azure
    backend writes the Instances row after the History transaction); a late message arrives.
(b) the outgoing messages of an episode were sent, but the history lacks that episode (and its
    input message is still queued).
(c) an episode committed, but the messages it consumed were not deleted.

Then an in-process host starts on that store and runs one cycle: it works until it is idle,
without advancing the virtual clock. Figures: (a) the row is fixed from the history and the
message dropped; (b) the episode replays to byte-identical actions, and the duplicate work
items' results are dropped by task id; (c) the re-delivered result is dropped by task id.
Every case ends with the history lint.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from durable_local.app_loader import load_app
from durable_local.engine.episode import run_orchestration_episode
from durable_local.engine.events import EventType
from durable_local.engine.messages import activity_completed_message, client_event_message, start_instance
from durable_local.engine.result import EpisodeResult
from durable_local.runtime import invoke
from durable_local.runtime.clock import VirtualClock
from durable_local.runtime.engine_options import engine_options
from durable_local.store import open_store
from durable_local.store.base import Message, OrchestrationWorkItem, Store
from durable_local.testing import running_host
from durable_local.testing.faults import history_lint
from tests.chaos.kit import REPO, host_idle


def backends() -> list[Any]:
    enabled = "azure" in os.environ.get("DURABLE_STORE_BACKENDS", "")
    azure = [pytest.mark.azurite] + ([] if enabled else [pytest.mark.skip(reason="azure not in backends")])
    return ["memory", "sqlite", pytest.param("azure", marks=azure)]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))
    monkeypatch.setenv("TASK_HUB_NAME", "ChaosHub")
    return tmp_path


class Recorder:
    """Store proxy: records each orchestration commit and counts empty claims (idleness)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.commits: list[tuple[str, list[Message], list[dict[str, Any]]]] = []
        self.empty_claims: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def commit_orchestration(self, item: OrchestrationWorkItem, **kw: Any) -> None:
        self.inner.commit_orchestration(item, **kw)
        self.commits.append((item.instance_id, list(kw.get("outgoing", ())), list(kw.get("new_history", ()))))

    def claim_orchestrations(self, *args: Any) -> list[OrchestrationWorkItem]:
        return self._count("claim_orchestrations", self.inner.claim_orchestrations(*args))

    def claim_activities(self, *args: Any) -> list[Message]:
        return self._count("claim_activities", self.inner.claim_activities(*args))

    def _count(self, name: str, items: list[Any]) -> list[Any]:
        if not items:
            self.empty_claims[name] += 1
        return items


class Hand:
    """The engine and the store driven by hand, one step at a time, at the clock's now."""

    def __init__(self, store: Store, clock: VirtualClock) -> None:
        self.store, self.clock = store, clock
        self.app = load_app(REPO)
        self.options = engine_options(self.app.registry)

    def start(self, iid: str, name: str, payload: Any) -> None:
        record, msg = start_instance(iid, name, json.dumps(payload), self.clock.now())
        self.store.create_instance(record, msg)

    def claim(self, iid: str) -> OrchestrationWorkItem:
        items = self.store.claim_orchestrations(self.clock.now(), 10, 60, "host-hand@r4:0")
        assert [i.instance_id for i in items] == [iid], items
        return items[0]

    def episode(self, item: OrchestrationWorkItem) -> EpisodeResult:
        return run_orchestration_episode(item, self.clock.now(), self.options)

    def commit(self, item: OrchestrationWorkItem, result: EpisodeResult, consumed: list[int] | None = None) -> None:
        self.store.commit_orchestration(
            item, instance=result.instance, new_history=result.new_history, outgoing=result.outgoing,
            consumed=consumed if consumed is not None else result.consumed,
        )  # fmt: skip

    def step(self, iid: str) -> EpisodeResult:
        item = self.claim(iid)
        result = self.episode(item)
        self.commit(item, result)
        return result

    def run_activities(self) -> None:
        """Run every queued work item (pure activities) and complete it."""
        for work in self.store.claim_activities(self.clock.now(), 100, 60, "host-hand@r4:0"):
            info = self.app.registry.activity(work.payload["name"])
            assert info is not None
            value = info.user_function(invoke.decode_activity_input(work.payload.get("input")))
            result = activity_completed_message(work, invoke.encode_activity_result(value), self.clock.now())
            self.store.complete_activity(work, result)


def open_backend(backend: str, data_dir: Path, clock: VirtualClock) -> Store:
    if backend == "azure":
        from tests.azurite import azure_test_store

        return azure_test_store(clock.now)
    return open_store(backend, data_dir, clock=clock.now)


def fan_out_order(oid: str, lines: int) -> dict[str, Any]:
    items = [{"id": f"l{i}", "productId": f"SKU-R4{i}", "quantity": 1 + i, "unitPriceCents": 100} for i in range(lines)]
    return {"orderId": oid, "items": items}


def completions(history: list[dict[str, Any]]) -> Counter[int]:
    return Counter(e["TaskScheduledId"] for e in history if e["EventType"] == EventType.TaskCompleted)


async def one_cycle(env: Path, store: Store, clock: VirtualClock) -> Recorder:
    """Start a host on ``store``, let it work until idle (the clock stands still), stop it."""
    recorder = Recorder(store)
    async with running_host(REPO, data_dir=env / "d", clock=clock, store_factory=lambda _c: recorder) as h:  # type: ignore[arg-type,return-value]
        await host_idle(h, recorder.empty_claims, timeout=30)
        assert not history_lint(store), history_lint(store)
        recorder.final = {  # type: ignore[attr-defined]
            iid: (store.get_instance(iid), store.get_history(iid), store.list_messages(iid))
            for iid in {c[0] for c in recorder.commits}
        }
    return recorder


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", backends())
async def test_r4a_terminal_history_under_a_running_row(env: Path, backend: str) -> None:
    clock = VirtualClock()
    store = open_backend(backend, env / "d", clock)
    hand = Hand(store, clock)
    hand.start("r4a", "OrderOrchestrator", fan_out_order("r4a", 2))
    hand.step("r4a")
    hand.run_activities()
    hand.step("r4a")  # FinalizeOrder scheduled
    hand.run_activities()
    hand.step("r4a")  # completed
    done = store.get_instance("r4a")
    assert done is not None and done.runtime_status == "Completed"
    history = store.get_history("r4a")
    store.set_instance_row(replace(done, runtime_status="Running", output=None))  # the torn row
    store.enqueue([client_event_message("r4a", "Late", '"x"', clock.now())])

    rec = await one_cycle(env, store, clock)
    row, after, left = rec.final["r4a"]  # type: ignore[attr-defined]
    assert row.runtime_status == "Completed" and row.output == done.output
    assert after == history, "the history must not change"
    assert left == [], "the late message is consumed (dropped)"
    print(f"\nR4a {backend}: row Running -> Completed from the history in one cycle; late message dropped")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", backends())
async def test_r4b_outbox_sent_but_the_episode_missing_from_history(env: Path, backend: str) -> None:
    clock = VirtualClock()
    store = open_backend(backend, env / "d", clock)
    hand = Hand(store, clock)
    hand.start("r4b", "OrderOrchestrator", fan_out_order("r4b", 3))
    item = hand.claim("r4b")
    lost = hand.episode(item)
    sent = [json.dumps(m.payload, sort_keys=True) for m in lost.outgoing]
    assert len(sent) == 3
    store.enqueue(lost.outgoing)  # the outbox went out ...
    store.abandon_orchestration(item)  # ... the history and the row did not (the host died)
    assert store.get_history("r4b") == []

    rec = await one_cycle(env, store, clock)
    first = next(c for c in rec.commits if c[0] == "r4b")
    replayed = [json.dumps(m.payload, sort_keys=True) for m in first[1]]
    assert replayed == sent, "the replayed episode must produce byte-identical actions"
    row, history, left = rec.final["r4b"]  # type: ignore[attr-defined]
    assert row.runtime_status == "Completed", row
    done = completions(history)
    assert len(done) == 4 and set(done.values()) == {1}, done  # 3 x ProcessItem + FinalizeOrder, once each
    assert left == []
    print(f"\nR4b {backend}: episode replayed to {len(sent)} byte-identical actions; 6 results for 3 items, "
          f"the 3 duplicates dropped by task id; order Completed in one cycle")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", backends())
async def test_r4c_consumed_messages_not_deleted(env: Path, backend: str) -> None:
    clock = VirtualClock()
    store = open_backend(backend, env / "d", clock)
    hand = Hand(store, clock)
    hand.start("r4c", "OrderOrchestrator", fan_out_order("r4c", 2))
    hand.step("r4c")
    hand.run_activities()
    item = hand.claim("r4c")
    result = hand.episode(item)
    hand.commit(item, result, consumed=[])  # committed, but the two results stay queued
    stale = [m for m in store.list_messages("r4c") if m.payload.get("EventType") == EventType.TaskCompleted]
    assert len(stale) == 2

    rec = await one_cycle(env, store, clock)
    row, history, left = rec.final["r4c"]  # type: ignore[attr-defined]
    assert row.runtime_status == "Completed", row
    done = completions(history)
    assert len(done) == 3 and set(done.values()) == {1}, done
    assert left == [], "the re-delivered results are consumed (dropped by task id)"
    print(f"\nR4c {backend}: {len(stale)} re-delivered results dropped by task id; order Completed in one cycle")
