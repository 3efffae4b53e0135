"""S3 instance-id validation, S4 opt-in key enforcement, loopback-only RPC, S6 secret hygiene."""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from aiohttp.test_utils import make_mocked_request

from durable_local.http import auth
from durable_local.http.server import build_app
from durable_local.store.base import InstanceQuery

MASTER = "master-KEY-0123456789abcdef"
SYSTEM = "system-KEY-0123456789abcdef"
HOST = "host-KEY-0123456789abcdef"
FUNC = "func-KEY-0123456789abcdef"
OTHER = "other-fn-KEY-0123456789abcdef"
KEYS = {"master_key": MASTER, "system_key": SYSTEM,
        "function_keys": {"default": HOST, "secure": FUNC, "plain/extra": OTHER}}
W = "/runtime/webhooks/durabletask"

BAD_IDS = [
    "a/b", "a\\b", "a#b", "a?b", "a\x01b", "tab\there", "del\x7f", "@starts-with-at", "x" * 257, "../etc/passwd",
    "é" * 257, " ",
]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_invalid_instance_ids_are_400_and_create_nothing(srv: Any, bad: str) -> None:
    code, err, _ = await srv.call("POST", f"/durabletask/orchestrators/hello_orchestrator/{quote(bad, safe='')}",
                                  json="x")
    assert code == 400 and err["ExceptionType"] == "System.ArgumentException"
    assert srv.store.query_instances(InstanceQuery()).instances == []


async def test_path_traversal_encoded_slash_is_rejected(srv: Any) -> None:
    code, _, _ = await srv.call("POST", "/durabletask/orchestrators/hello_orchestrator/..%2F..%2Fx", json="x")
    assert code == 400


@pytest.mark.parametrize("good", ["x" * 256, "é" * 256, "order:42", "with space", "a.b-c_d~e!$&'()*+,;=@"])
async def test_legal_ids_round_trip(srv: Any, good: str) -> None:
    path = f"/durabletask/orchestrators/hello_orchestrator/{quote(good, safe='')}"
    code, body, _ = await srv.call("POST", path, json="x")
    assert code == 202 and body["id"] == good
    code, status, _ = await srv.call("GET", f"/durabletask/instances/{quote(good, safe='')}")
    assert code == 202 and status["instanceId"] == good


KEY_TABLE = [
    # path, method, key, expected status
    ("/api/plain", "GET", None, 200),  # anonymous
    ("/api/secure", "GET", None, 401),
    ("/api/secure", "GET", "wrong", 401),
    ("/api/secure", "GET", HOST, 200),
    ("/api/secure", "GET", FUNC, 200),
    ("/api/secure", "GET", OTHER, 401),  # another function's key
    ("/api/secure", "GET", SYSTEM, 401),
    ("/api/secure", "GET", MASTER, 200),
    ("/api/adminonly", "GET", HOST, 401),
    ("/api/adminonly", "GET", FUNC, 401),
    ("/api/adminonly", "GET", MASTER, 200),
    ("/admin/host/status", "GET", None, 401),
    ("/admin/host/status", "GET", HOST, 401),
    ("/admin/host/status", "GET", MASTER, 200),
    (f"{W}/instances/", "GET", None, 401),
    (f"{W}/instances/", "GET", HOST, 401),
    (f"{W}/instances/", "GET", FUNC, 401),
    (f"{W}/instances/", "GET", SYSTEM, 200),
    (f"{W}/instances/", "GET", MASTER, 200),
    (f"{W}/orchestrators/hello_orchestrator", "POST", None, 401),
    (f"{W}/orchestrators/hello_orchestrator", "POST", SYSTEM, 202),
    ("/durabletask/instances/", "GET", None, 200),  # local RPC base: loopback, no key
]


@pytest.mark.parametrize("via", ["query", "header"])
@pytest.mark.parametrize(("path", "method", "key", "expected"), KEY_TABLE)
async def test_key_mode(serve: Any, path: str, method: str, key: str | None, expected: int, via: str) -> None:
    srv = await serve(**KEYS)
    kw: dict[str, Any] = {}
    if key is not None:
        if via == "query":
            kw["params"] = {"code": key}
        else:
            kw["headers"] = {"x-functions-key": key}
    code, _, _ = await srv.call(method, path, **kw)
    assert code == expected


async def test_auth_is_off_by_default(srv: Any) -> None:
    for path in ("/api/secure", "/api/adminonly", "/admin/host/status", f"{W}/instances/"):
        assert (await srv.call("GET", path))[0] == 200


async def test_keyed_urls_and_sdk_client_in_key_mode(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    srv = await serve(**KEYS)
    with caplog.at_level(logging.DEBUG):
        code, body, _ = await srv.call("POST", "/api/orchestrators/hello_orchestrator", json="x")
        assert code == 202 and body["statusQueryGetUri"].endswith(f"&code={SYSTEM}")
        client = srv.client()
        binding = json.loads(srv.binding())
        assert binding["requiredQueryStringParameters"] == f"code={SYSTEM}"
        iid = await client.start_new("hello_orchestrator")
        assert (await client.get_status(iid)).instance_id == iid
        code, _, _ = await srv.call("GET", f"{W}/instances/{iid}", params={"code": SYSTEM})
        assert code == 202
        await srv.call("GET", "/api/secure", params={"code": "not-the-key"})
        await srv.call("GET", "/api/boom", params={"code": MASTER})
    for secret in (MASTER, SYSTEM, HOST, FUNC, "not-the-key"):
        assert secret not in caplog.text  # S6: keys and code= values never reach the logs


def test_key_comparison_is_constant_time_over_all_candidates() -> None:
    with mock.patch.object(auth.hmac, "compare_digest", wraps=auth.hmac.compare_digest) as spy:
        assert auth.keys_match("b", ["a", "b", "c"])
        assert spy.call_count == 3  # no short-circuit after the match
        spy.reset_mock()
        assert not auth.keys_match("zz", ["a", None, "b"])
        assert spy.call_count == 2
    assert not auth.keys_match(None, ["a"]) and not auth.keys_match("", [""])


@pytest.mark.parametrize(("peer", "loopback"), [
    (("127.0.0.1", 5), True), (("::1", 5, 0, 0), True), (("::ffff:127.0.0.1", 5, 0, 0), True),
    (("10.0.0.7", 5), False), (("192.168.1.2", 5), False), (None, False),
])
async def test_rpc_base_is_loopback_only(srv: Any, peer: Any, loopback: bool) -> None:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: peer if name == "peername" else default
    app = build_app(srv.ctx, port_getter=lambda: 1)
    req = make_mocked_request("GET", "/durabletask/instances/", app=app, transport=transport)
    assert auth.is_loopback(req) is loopback
    match = await app.router.resolve(req)
    resp = await match.handler(req)
    assert resp.status == (200 if loopback else 403)
