"""Fixtures for the app tests: an isolated sandbox directory per test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def sandbox_dir(tmp_path, monkeypatch):
    """Every test gets its own sandbox SQLite directory and default adapters."""
    directory = tmp_path / "sandbox"
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(directory))
    for name in (
        "PAYMENT_ADAPTER",
        "CARRIER_ADAPTER",
        "NOTIFICATION_ADAPTER",
        "APPROVAL_THRESHOLD_CENTS",
        "APPROVAL_TIMEOUT_HOURS",
    ):
        monkeypatch.delenv(name, raising=False)
    return directory


@pytest.fixture
async def rpc():
    """A running RPC stub; the SDK's shared aiohttp session is closed with the test's loop."""
    from azure.durable_functions.models.utils import http_utils

    from tests.app.rpc_stub import RpcStub

    # An in-process durable_local host may have left the SDK's module-global session bound to
    # its worker loop; set it aside so this test's client gets a session on the test's loop.
    outer_session = http_utils._client_session
    http_utils._client_session = None
    stub = RpcStub()
    await stub.start()
    try:
        yield stub
    finally:
        await http_utils._close_session()
        http_utils._client_session = outer_session
        await stub.stop()
