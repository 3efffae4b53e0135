"""End-to-end fixtures: this repo's app served by an in-process durable_local host."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from durable_local.runtime.clock import VirtualClock
from durable_local.store.base import Store
from durable_local.testing import HostHarness, running_host

REPO = Path(__file__).resolve().parents[2]
_ids = itertools.count(1)


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings the app reads, with the sandboxes in a per-test directory."""
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))
    monkeypatch.setenv("APPROVAL_THRESHOLD_CENTS", "100000")
    monkeypatch.setenv("APPROVAL_TIMEOUT_HOURS", "72")
    monkeypatch.setenv("TASK_HUB_NAME", "E2EHub")
    for name in ("PAYMENT_ADAPTER", "CARRIER_ADAPTER", "NOTIFICATION_ADAPTER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _backends() -> list[Any]:
    """memory and sqlite always; azure (Azurite) when DURABLE_STORE_BACKENDS names it (CI does)."""
    names = [n.strip() for n in os.environ.get("DURABLE_STORE_BACKENDS", "memory,sqlite").split(",") if n.strip()]
    return [pytest.param(n, marks=[pytest.mark.azurite] if n == "azure" else [], id=n) for n in names]


@pytest.fixture(params=_backends())
def on_backend(request: pytest.FixtureRequest, app_env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test's ``durable_host`` (the pytest plugin's fixture; list this one first) on each
    store backend, through the plugin's marker; on Azurite, in a task hub of its own."""
    if request.param == "azure":
        from tests.azurite import shared_connection_string

        monkeypatch.setenv("AzureWebJobsStorage", shared_connection_string())
        monkeypatch.setenv("TASK_HUB_NAME", f"T{uuid.uuid4().hex[:12]}")
    request.applymarker(pytest.mark.durable_host(store=request.param))
    return str(request.param)


@pytest.fixture(params=_backends())
async def host(request: pytest.FixtureRequest, app_env: Path) -> AsyncIterator[HostHarness]:
    factory = None
    if request.param == "azure":
        from tests.azurite import azure_test_store

        def factory(clock: VirtualClock) -> Store:
            # a fresh hub per test; poll_interval as in production (other processes may write)
            return azure_test_store(clock.now, poll_interval=0.2)

    async with running_host(REPO, store=request.param, data_dir=app_env / "durable", store_factory=factory) as h:
        yield h


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


def make_order(order_id: str, lines: list[tuple[str, int, int]], card: str = "4242424242424242") -> dict[str, Any]:
    """An order with (sku, quantity, unit price cents) lines."""
    return {
        "orderId": order_id,
        "customerId": "cust-1",
        "currency": "USD",
        "items": [
            {"id": f"line-{i}", "productId": sku, "quantity": qty, "unitPriceCents": price}
            for i, (sku, qty, price) in enumerate(lines, 1)
        ],
        "paymentMethod": {"cardNumber": card},
        "shippingAddress": {
            "name": "Ada",
            "line1": "1 Main St",
            "city": "Seattle",
            "postalCode": "98101",
            "country": "US",
        },
    }


async def stock(h: HostHarness, sku: str, quantity: int) -> None:
    code, _, _ = await h.post(f"/api/inventory/{sku}", json={"quantity": quantity})
    assert code == 202
    await h.wait_until(lambda: inventory_of(h, sku), what=f"stock for {sku}")


async def inventory_of(h: HostHarness, sku: str) -> dict[str, Any] | None:
    code, body, _ = await h.get(f"/api/inventory/{sku}")
    return body if code == 200 else None


async def finish_with_clock(
    h: HostHarness, instance_id: str, step_seconds: float = 61, rounds: int = 40
) -> dict[str, Any]:
    """Advance the virtual clock until the instance is terminal (retry back-offs, timers)."""
    for _ in range(rounds):
        try:
            return await h.wait_for(instance_id, timeout=0.3)
        except AssertionError:
            h.clock_advance(seconds=step_seconds)
    return await h.wait_for(instance_id, timeout=5)
