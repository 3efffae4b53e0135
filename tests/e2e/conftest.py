"""End-to-end fixtures: this repo's app served by an in-process durable_local host."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture(params=["memory", "sqlite"])
async def host(request: pytest.FixtureRequest, app_env: Path) -> AsyncIterator[HostHarness]:
    async with running_host(REPO, store=request.param, data_dir=app_env / "durable") as h:
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
