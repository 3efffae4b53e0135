"""S2 exact status codes, S3 instance-id validation and S4 key enforcement, end to end: this
repo's Function App served by a running durable_local host (in-process, real HTTP).

(tests/http covers the same rules on a small test app at the handler level.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from durable_local.http.routes import normalize_methods
from durable_local.http.server import function_route_template
from durable_local.store.base import InstanceQuery
from durable_local.testing import HostHarness, running_host
from tests.chaos.kit import REPO
from tests.e2e.conftest import make_order

W = "/runtime/webhooks/durabletask"
MASTER = "s4-master-0123456789abcdefABCDEF"
SYSTEM = "s4-system-0123456789abcdefABCDEF"
HOSTKEY = "s4-host-0123456789abcdefABCDEF"
FNKEY = "s4-fn-create-order-0123456789abcdef"


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))
    monkeypatch.setenv("APPROVAL_THRESHOLD_CENTS", "100000")
    monkeypatch.setenv("APPROVAL_TIMEOUT_HOURS", "72")
    for name in ("PAYMENT_ADAPTER", "CARRIER_ADAPTER", "NOTIFICATION_ADAPTER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
async def host(app_env: Path) -> AsyncIterator[HostHarness]:
    async with running_host(REPO, store="sqlite", data_dir=app_env / "d") as h:
        yield h


def _rows(h: HostHarness) -> int:
    return len(h.store.query_instances(InstanceQuery(top=0)).instances)


# -- S2 ---------------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
async def test_s2_exact_status_codes(host: HostHarness) -> None:
    h = host
    table: list[tuple[str, int, int]] = []

    def row(name: str, got: int, want: int) -> None:
        table.append((name, got, want))

    # start: invalid JSON -> 400 "Invalid JSON content", nothing created
    code, body, _ = await h.post(f"{W}/orchestrators/approval_workflow/s2-bad", data=b'{"requestId": ',
                                 headers={"Content-Type": "application/json"})
    row("start invalid JSON", code, 400)
    assert "Invalid JSON content" in str(body) and h.store.get_instance("s2-bad") is None
    # start accepted -> 202 with Location (== statusQueryGetUri)
    code, body, headers = await h.post(f"{W}/orchestrators/approval_workflow/s2-run", json={"requestId": "s2-run"})
    row("start accepted", code, 202)
    assert headers.get("Location") and headers["Location"] == body["statusQueryGetUri"]
    assert headers["Location"].endswith("/instances/s2-run") or "/instances/s2-run?" in headers["Location"]
    await h.wait_for("s2-run", ["Running"])
    code, body, _ = await h.get(f"{W}/instances/s2-run")
    row("status running", code, 202)
    # raise event with a non-JSON content type -> 400
    code, _, _ = await h.post(f"{W}/instances/s2-run/raiseEvent/Approval", data=b"yes",
                              headers={"Content-Type": "text/plain"})
    row("raise event text/plain", code, 400)
    code, _, _ = await h.post(f"{W}/instances/s2-run/raiseEvent/Approval", data=b"{nope",
                              headers={"Content-Type": "application/json"})
    row("raise event invalid JSON", code, 400)
    # unknown instance -> 404 everywhere
    for what, method, path in [
        ("status unknown", "GET", f"{W}/instances/s2-nobody"),
        ("raise event unknown", "POST", f"{W}/instances/s2-nobody/raiseEvent/E"),
        ("terminate unknown", "POST", f"{W}/instances/s2-nobody/terminate"),
        ("rewind unknown", "POST", f"{W}/instances/s2-nobody/rewind"),
        ("suspend unknown", "POST", f"{W}/instances/s2-nobody/suspend"),
    ]:
        code, _, _ = await h.request(method, path, json={} if method == "POST" else None)
        row(what, code, 404)
    # rewind on a running instance -> 410 (only Failed ones rewind)
    code, _, _ = await h.post(f"{W}/instances/s2-run/rewind?reason=x")
    row("rewind running", code, 410)
    # terminal: terminate, then raise event / rewind / terminate -> 410, status 200
    code, _, _ = await h.post(f"{W}/instances/s2-run/terminate?reason=s2")
    row("terminate running", code, 202)
    await h.wait_for("s2-run", ["Terminated"])
    code, _, _ = await h.get(f"{W}/instances/s2-run")
    row("status terminal", code, 200)
    code, _, _ = await h.post(f"{W}/instances/s2-run/raiseEvent/Approval", json={"approved": True})
    row("raise event terminal", code, 410)
    code, _, _ = await h.post(f"{W}/instances/s2-run/rewind?reason=x")
    row("rewind terminal", code, 410)
    code, _, _ = await h.post(f"{W}/instances/s2-run/terminate?reason=again")
    row("terminate terminal", code, 410)
    # the app's own routes
    code, _, _ = await h.post("/api/orders", data=b"{bad", headers={"Content-Type": "application/json"})
    row("app POST /api/orders invalid JSON", code, 400)
    code, _, _ = await h.post("/api/orders", data=b" " * (64 * 1024 + 1), headers={"Content-Type": "application/json"})
    row("app POST /api/orders 64 KB + 1", code, 413)
    code, _, headers = await h.post("/api/orders", json=make_order("s2-order", [("SKU-S2", 1, 100)]))
    row("app POST /api/orders accepted", code, 202)
    assert headers.get("Location")
    code, _, _ = await h.get("/api/orders/s2-missing")
    row("app GET unknown order", code, 404)
    bad = [t for t in table if t[1] != t[2]]
    print("\nS2 table: " + "; ".join(f"{n} -> {g}" for n, g, _ in table))
    assert not bad, bad
    assert {r.instance_id for r in h.store.query_instances(InstanceQuery(top=0)).instances} >= {"s2-run", "s2-order"}
    assert h.store.get_instance("s2-bad") is None


# -- S3 ---------------------------------------------------------------------------------------------

BAD_IDS = [
    "a/b", "a\\b", "a#b", "a?b", "ctl\x01char", "tab\tchar", "nl\nchar", "del\x7f", "@leading-at", "x" * 257,
    "é" * 257, "日本語" * 86, " ",
]


@pytest.mark.timeout(60)
async def test_s3_instance_id_validation_end_to_end(host: HostHarness) -> None:
    h = host
    before = _rows(h)
    results = []
    for bad in BAD_IDS:
        code, _, _ = await h.post(f"{W}/orchestrators/approval_workflow/{quote(bad, safe='')}",
                                  json={"requestId": "x"})
        results.append((bad[:20], "webhook", code))
        # the app's order route: the order id becomes the instance id
        code, _, _ = await h.post("/api/orders", json=make_order(bad, [("SKU-S3", 1, 100)]))
        results.append((bad[:20], "api", code))
    # path traversal (an encoded slash inside the id segment, and dot segments)
    for raw in ("..%2F..%2Fetc", "..%2Fx", "%2E%2E%2Fx", "a%2Fb"):
        code, _, _ = await h.post(f"{W}/orchestrators/approval_workflow/{raw}", json={"requestId": "x"})
        results.append((raw, "traversal", code))
    webhook = [r for r in results if r[1] != "api"]
    assert all(code == 400 for _, _, code in webhook), [r for r in webhook if r[2] != 400]
    assert _rows(h) == before, "a rejected id created a row"
    app = [r for r in results if r[1] == "api"]
    assert all(code == 400 for _, _, code in app), [r for r in app if r[2] != 400]
    for rec in h.store.query_instances(InstanceQuery(top=0)).instances:
        assert rec.instance_id not in BAD_IDS
    # a 256-char legal id (also 256 non-ASCII chars) is accepted and round-trips
    for good in ("g" * 256, "ü" * 256):
        code, body, _ = await h.post(f"{W}/orchestrators/approval_workflow/{quote(good, safe='')}",
                                     json={"requestId": "x"})
        assert code == 202 and body["id"] == good
        status = await h.wait_for(good, ["Running"])
        assert status["instanceId"] == good and h.store.get_instance(good) is not None
    print(f"\nS3: {len(webhook)}/{len(webhook)} bad ids on the Durable API and {len(app)}/{len(app)} bad order ids "
          "on POST /api/orders -> 400, 0 rows created; 256-char ids accepted and round-trip")


# -- S4 ---------------------------------------------------------------------------------------------

@pytest.fixture
async def keyed(app_env: Path) -> AsyncIterator[HostHarness]:
    async with running_host(REPO, store="memory", master_key=MASTER) as h:
        h.host.ctx.system_key = SYSTEM
        h.host.ctx.function_keys = {"default": HOSTKEY, "start_order": FNKEY}
        yield h


def _app_routes(h: HostHarness) -> list[tuple[str, str, str, str]]:
    """(function name, method, concrete path, auth level) for every HTTP function of the app."""
    samples = {"sku": "SKU-S4", "orderId": "s4-order", "functionName": "approval_workflow"}
    out = []
    for fi in h.host.app.registry.functions:
        if fi.kind != "http":
            continue
        route = function_route_template(fi).strip("/")
        for name, value in samples.items():
            route = route.replace("{" + name + "}", value)
        for method in sorted(normalize_methods(fi.trigger.get("methods"))):
            level = str(fi.trigger.get("authLevel") or "function").lower()
            out.append((fi.function_name, method, f"/api/{route}", level))
    return out


BODIES: dict[str, Any] = {
    "/api/orders": make_order("s4-order", [("SKU-S4", 1, 100)]),
    "/api/inventory/SKU-S4": {"quantity": 5},
    "/api/orders/s4-order/approval": {"approved": True, "approver": "ops"},
    "/api/orchestrators/approval_workflow": {"requestId": "s4"},
}


@pytest.mark.timeout(90)
async def test_s4_every_route_needs_a_key_in_cloud_parity_mode(keyed: HostHarness) -> None:
    h = keyed
    routes = _app_routes(h)
    assert len(routes) >= 6, routes
    covered: set[tuple[str, str]] = set()
    table = []
    for fn, method, path, level in routes:
        assert level in ("function", "anonymous", "admin"), (fn, level)
        body = BODIES.get(path)
        kw: dict[str, Any] = {"json": body} if method == "POST" else {}
        expect_ok = {"function": [HOSTKEY, MASTER] + ([FNKEY] if fn == "start_order" else []),
                     "admin": [MASTER], "anonymous": [None]}[level]
        expect_401 = {"function": [None, "wrong", SYSTEM] + ([] if fn == "start_order" else [FNKEY]),
                      "admin": [None, HOSTKEY, SYSTEM], "anonymous": []}[level]
        for key in expect_401:
            for how in ("query", "header"):
                code = await _call(h, method, path, key, how, kw)
                table.append((fn, method, path, key, how, code, 401))
        for key in expect_ok:
            for how in ("query", "header"):
                code = await _call(h, method, path, key, how, kw)
                table.append((fn, method, path, key, how, code, "ok"))
        covered.add((fn, method))
    assert covered == {(fn, m) for fn, m, _, _ in routes}  # 100 % of the app's routes
    # management API (Durable webhook) and admin API
    for path, method, key, want in [
        (f"{W}/instances", "GET", None, 401), (f"{W}/instances", "GET", HOSTKEY, 401),
        (f"{W}/instances", "GET", FNKEY, 401), (f"{W}/instances", "GET", SYSTEM, "ok"),
        (f"{W}/instances", "GET", MASTER, "ok"),
        (f"{W}/orchestrators/approval_workflow/s4-mgmt", "POST", HOSTKEY, 401),
        (f"{W}/orchestrators/approval_workflow/s4-mgmt", "POST", SYSTEM, "ok"),
        (f"{W}/instances/s4-mgmt/terminate", "POST", None, 401),
        (f"{W}/instances/s4-mgmt/terminate", "POST", MASTER, "ok"),
        (f"{W}/entities/InventoryEntity/SKU-S4", "GET", HOSTKEY, 401),
        (f"{W}/entities/InventoryEntity/SKU-S4", "GET", SYSTEM, "ok"),
        ("/admin/host/status", "GET", None, 401), ("/admin/host/status", "GET", SYSTEM, 401),
        ("/admin/host/status", "GET", HOSTKEY, 401), ("/admin/host/status", "GET", MASTER, "ok"),
    ]:
        kw = {"json": {"requestId": "m"}} if method == "POST" else {}
        for how in ("query", "header"):
            code = await _call(h, method, path, key, how, kw)
            table.append(("mgmt", method, path, key, how, code, want))
    bad = [t for t in table if (t[6] == 401 and t[5] != 401) or ((t[6] == "ok" and t[5] in (401, 403)) or t[5] >= 500)]
    n_app = sum(1 for t in table if t[0] != "mgmt")
    print(f"\nS4: {len(covered)}/{len(routes)} app routes covered, {n_app} app + {len(table) - n_app} management "
          f"requests, {len(bad)} mismatches")
    assert not bad, bad[:10]
    # the status URLs handed out carry the system key, never a function/host key
    code, body, _ = await h.post(f"/api/orders?code={FNKEY}", json=make_order("s4-urls", [("SKU-S4", 1, 100)]))
    assert code == 202 and f"code={SYSTEM}" in body["statusQueryGetUri"] and FNKEY not in str(body)


async def _call(h: HostHarness, method: str, path: str, key: str | None, how: str, kw: dict[str, Any]) -> int:
    headers = {}
    url = path
    if key is not None and how == "query":
        url += ("&" if "?" in url else "?") + f"code={quote(key)}"
    elif key is not None:
        headers["x-functions-key"] = key
    code, _, _ = await h.request(method, url, headers=headers, **kw)
    return code
