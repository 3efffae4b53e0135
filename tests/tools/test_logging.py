"""Replay-safe app logging and one trace id per order across logs and OpenTelemetry spans."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from durable_local.testing import running_host
from durable_local.tools import tracing
from orchestrators.logging_util import replay_safe_logger
from tests.e2e.conftest import make_order, stock

REPO = Path(__file__).resolve().parents[2]


@dataclass
class FakeContext:
    is_replaying: bool
    instance_id: str = "inst-1"
    parent_instance_id: str | None = None


def test_replay_safe_logger_is_silent_while_replaying(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ctx = FakeContext(is_replaying=True)
    log = replay_safe_logger(ctx, "tests.replay_safe")
    log.info("during replay")
    ctx.is_replaying = False
    log.info("real step %d", 1)
    [record] = [r for r in caplog.records if r.name == "tests.replay_safe"]
    assert record.getMessage().startswith("real step 1")
    assert record.instance_id == "inst-1"


def test_trace_index_resolves_the_root_of_a_tree() -> None:
    index = tracing.TraceIndex(capacity=3)
    index.link("child", "root")
    index.link("grandchild", "child")
    index.link("child", None)  # a later episode without parent info keeps the link
    assert index.root("grandchild") == "root"
    index.link("a", "b")
    index.link("b", "a")  # cycles terminate
    assert index.root("a") in ("a", "b")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.tracer_provider = provider
    yield exporter
    tracing.tracer_provider = None


async def test_one_trace_links_an_orders_logs_and_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    spans: InMemorySpanExporter,
) -> None:
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))
    monkeypatch.setenv("APPROVAL_THRESHOLD_CENTS", "100000")
    caplog.set_level(logging.INFO)
    oid = "trace-order-1"
    async with running_host(REPO, store="memory") as h:
        await stock(h, "SKU-TRACE", 5)
        await h.post("/api/orders", json=make_order(oid, [("SKU-TRACE", 2, 300)]))
        assert (await h.wait_for(oid))["runtimeStatus"] == "Completed"
    messages = [(r.name, r.getMessage()) for r in caplog.records]

    # the app's orchestrator lines: once per real step although OrderSaga replays 4 times
    app_lines = [m for name, m in messages if name == "orders.orchestrators" and oid in m]
    assert [m.split(" [trace=")[0] for m in app_lines] == [
        f"order {oid}: reserving 1 line(s), total 600 cents", f"order {oid}: 1 of 1 line(s) reserved"]
    assert all(m.endswith(f"[trace={oid}]") for m in app_lines)

    # host lines of the order and both sub-orchestrations carry the root id
    starts = [m for name, m in messages if name == "durable_local.trace" and oid in m]
    assert {m.split(":")[0] for m in starts} >= {oid}
    assert any(f"{oid}:payment: orchestration PaymentOrchestrator started by {oid}" in m for m in starts)
    assert all(m.endswith(f"[trace={oid}]") for m in starts)

    # spans: episodes, activities and entity operations share the order's trace id
    trace_id = tracing._ids(oid)[0]
    mine = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    names = {s.name for s in mine}
    assert {"orchestration OrderSaga", "orchestration PaymentOrchestrator", "orchestration FulfillmentOrchestrator",
            "activity ChargePayment", "activity CreateShipment", "entity inventoryentity.reserve",
            "entity inventoryentity.commit"} <= names
