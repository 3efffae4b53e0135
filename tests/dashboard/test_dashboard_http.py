"""The dashboard's HTTP surface: what /_durable/ serves, its headers, keys, and no outside loads."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durable_local.dashboard import ASSETS, STATIC_DIR
from durable_local.testing import HostHarness, running_host
from tests.dashboard.conftest import REPO

KEY = "dashboard-test-master-key"


@pytest.fixture
async def keyed_host(app_env: Path) -> AsyncIterator[HostHarness]:
    async with running_host(REPO, store="memory", data_dir=app_env / "durable", master_key=KEY) as h:
        yield h


async def test_index_and_assets_are_served_with_types_and_csp(host: HostHarness) -> None:
    async with host.session.get(host.url("/_durable/")) as r:
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
        assert r.headers["Cache-Control"] == "no-store"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    referenced = re.findall(r'(?:src|href)="static/([^"]+)"', html)
    assert set(referenced) == set(ASSETS) - {"index.html"}
    for name in referenced:
        async with host.session.get(host.url(f"/_durable/static/{name}")) as r:
            assert r.status == 200, name
            assert r.content_type == ASSETS[name]
            assert await r.read() == (STATIC_DIR / name).read_bytes()


async def test_redirect_and_unknown_assets(host: HostHarness) -> None:
    async with host.session.get(host.url("/_durable?code=abc"), allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/_durable/?code=abc"
    for path in ("/_durable/static/nope.js", "/_durable/static/index.html", "/_durable/static/..%2Fapp.js",
                 "/_durable/static/%2e%2e%2f__init__.py"):
        async with host.session.get(host.url(path)) as r:
            assert r.status == 404, path
    # the rest of the host is unaffected
    code, body, _ = await host.get("/")
    assert code == 200 and "up and running" in body


async def test_with_keys_the_page_needs_the_master_key(keyed_host: HostHarness) -> None:
    h = keyed_host
    for query in ("", "?code=wrong"):
        async with h.session.get(h.url(f"/_durable/{query}")) as r:
            assert r.status == 401
            assert "master key" in await r.text()
    async with h.session.get(h.url(f"/_durable/?code={KEY}")) as r:
        assert r.status == 200 and r.content_type == "text/html"
    async with h.session.get(h.url("/_durable/"), headers={"x-functions-key": KEY}) as r:
        assert r.status == 200
    async with h.session.get(h.url("/_durable/static/app.js")) as r:
        assert r.status == 200  # no secrets in the assets
    # the page's script sends the key as x-functions-key on each API call
    code, _, _ = await h.get("/runtime/webhooks/durabletask/instances")
    assert code == 401
    code, body, _ = await h.get("/runtime/webhooks/durabletask/instances", headers={"x-functions-key": KEY})
    assert code == 200 and body == []


def test_static_files_load_nothing_from_elsewhere_and_stay_small() -> None:
    files = sorted(p for p in STATIC_DIR.iterdir() if p.is_file())
    assert {p.name for p in files} == set(ASSETS)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) < 400, path.name
        if path.suffix == ".svg":
            text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://|//cdn|@import|url\(", text), f"{path.name} refers to another origin"
        assert "innerHTML" not in text and "eval(" not in text, path.name
