"""Dashboard fixtures: this repo's app on an in-process host, and a headless chromium page."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durable_local.testing import HostHarness, running_host
from tests.dashboard import cdp
from tests.e2e.conftest import app_env  # noqa: F401  (fixture: sandbox settings per test)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
async def host(app_env: Path) -> AsyncIterator[HostHarness]:  # noqa: F811
    async with running_host(REPO, store="memory", data_dir=app_env / "durable") as h:
        yield h


def require_chromium() -> None:
    """Skip without chromium on a developer machine; in CI (env CI set) it must be there."""
    if cdp.CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{cdp.CHROMIUM} is missing; .ci/run must install Debian's chromium (apt-get install chromium)")
    pytest.skip(f"{cdp.CHROMIUM} not installed (apt-get install -y chromium); browser tests run in CI")


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[cdp.Page]:
    """A fresh headless chromium tab; fails the test on any uncaught page error."""
    require_chromium()
    async with cdp.launch(tmp_path) as p:
        yield p
        assert not p.errors, f"errors in the page: {p.errors}"
