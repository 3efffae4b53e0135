"""App HTTP triggers: request conversion, calling conventions, response conversion, host pages."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func
import pytest
from aiohttp.test_utils import make_mocked_request

from durable_local.http.server import format_routes
from durable_local.http.triggers import client_binding_json, to_aiohttp_response, to_http_request


def test_to_http_request_mirrors_the_worker() -> None:
    req = make_mocked_request("POST", "/api/echo/a?x=1&x=2&y=%20z",
                              headers={"Content-Type": "application/json", "X-Custom": "v", "Host": "h:7071"})
    hr = to_http_request(req, b'{"k": 1}', {"rest": "a"})
    assert isinstance(hr, func.HttpRequest)
    assert hr.method == "POST" and hr.url == "http://h:7071/api/echo/a?x=1&x=2&y=%20z"
    assert dict(hr.params) == {"x": "1,2", "y": " z"}
    assert dict(hr.route_params) == {"rest": "a"}
    assert hr.headers["content-type"] == "application/json" and hr.headers["x-custom"] == "v"
    assert hr.get_json() == {"k": 1}


@pytest.mark.parametrize(("result", "status", "ctype", "body"), [
    (func.HttpResponse("hi"), 200, "text/plain; charset=utf-8", b"hi"),
    (func.HttpResponse(b"\x00\x01", status_code=201, mimetype="application/octet-stream"), 201,
     "application/octet-stream", b"\x00\x01"),
    (func.HttpResponse("{}", headers={"Content-Type": "application/problem+json"}), 200,
     "application/problem+json", b"{}"),
    (func.HttpResponse(status_code=204), 204, None, b""),
    ("text", 200, "text/plain; charset=utf-8", b"text"),
    (b"raw", 200, "application/octet-stream", b"raw"),
    ({"a": 1}, 200, "application/json; charset=utf-8", b'{"a": 1}'),
    (None, 204, None, b""),
])
def test_to_aiohttp_response(result: Any, status: int, ctype: str | None, body: bytes) -> None:
    resp = to_aiohttp_response(result)
    assert resp.status == status and (resp.body or b"") == body
    if ctype:
        assert resp.headers["Content-Type"] == ctype


def test_to_aiohttp_response_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        to_aiohttp_response(object())


async def test_sync_function_gets_request_route_and_body(srv: Any) -> None:
    code, body, headers = await srv.call("PUT", "/api/echo/a/b%20c?q=1", data=b"payload",
                                         headers={"X-Custom": "hello", "Content-Type": "text/plain"})
    assert code == 201 and headers["X-Reply"] == "yes"
    assert body["method"] == "PUT" and body["route"] == {"rest": "a/b c"} and body["params"] == {"q": "1"}
    assert body["body"] == "payload" and body["x"] == "hello" and body["ct"] == "text/plain"
    assert body["url"] == f"{srv.base}/api/echo/a/b%20c?q=1"


async def test_method_and_route_mismatches_are_404(srv: Any) -> None:
    assert (await srv.call("DELETE", "/api/echo/a"))[0] == 404
    assert (await srv.call("GET", "/api/ctx/notanint"))[0] == 404
    assert (await srv.call("GET", "/api/missing"))[0] == 404
    assert (await srv.call("GET", "/echo/a"))[0] == 404  # outside the route prefix


async def test_context_parameter_and_string_return(srv: Any) -> None:
    code, body, _ = await srv.call("GET", "/API/CTX/42")
    assert code == 200 and body["fn"] == "with_context" and body["id"] == "42" and len(body["invocation"]) == 36
    assert (await srv.call("GET", "/api/plain"))[:2] == (200, "just text")


async def test_user_exception_is_a_logged_500(srv: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        code, body, _ = await srv.call("GET", "/api/boom")
    assert code == 500 and body == {"error": "Exception while executing function: Functions.boom",
                                    "exceptionType": "RuntimeError"}
    assert "user bug" in caplog.text  # traceback in the log, not in the response


async def test_host_endpoints(srv: Any) -> None:
    code, body, _ = await srv.call("GET", "/")
    assert code == 200 and "up and running" in body
    code, body, _ = await srv.call("GET", "/admin/host/status")
    assert code == 200 and body["state"] == "Running"
    assert (await srv.call("GET", "/admin/nothing"))[0] == 404


async def test_empty_route_prefix(serve: Any) -> None:
    srv = await serve(route_prefix="")
    code, body, _ = await srv.call("GET", "/echo/x")
    assert code == 201 and body["route"] == {"rest": "x"}
    assert (await srv.call("GET", "/api/echo/x"))[0] == 404
    assert (await srv.call("GET", "/runtime/webhooks/durabletask/instances/nope"))[0] == 404
    lines = format_routes(srv.ctx, "http://127.0.0.1:7071")
    assert "        plain: [GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,TRACE] http://127.0.0.1:7071/plain" in lines


async def test_format_routes(srv: Any) -> None:
    lines = format_routes(srv.ctx, "http://127.0.0.1:7071/")
    assert lines[0] == "        starter: [POST] http://127.0.0.1:7071/api/orchestrators/{functionName}"
    assert "        with_context: [GET] http://127.0.0.1:7071/api/ctx/{id:int}" in lines
    assert "        echo: [GET,POST,PUT] http://127.0.0.1:7071/api/echo/{*rest}" in lines
    assert "        hello_orchestrator: orchestrationTrigger" in lines
    assert "        say_hello: activityTrigger" in lines and "        Counter: entityTrigger" in lines


async def test_binding_json(srv: Any) -> None:
    req = make_mocked_request("GET", "/api/x", headers={"Host": "localhost:7071"})
    binding = json.loads(client_binding_json(srv.ctx, req, {"type": "durableClient", "name": "client"}, 17071))
    assert binding["taskHubName"] == "TestHubName" and binding["rpcBaseUrl"] == "http://127.0.0.1:17071/durabletask/"
    assert binding["baseUrl"] == "http://localhost:7071/runtime/webhooks/durabletask"
    assert binding["requiredQueryStringParameters"] == ""
    assert binding["managementUrls"]["statusQueryGetUri"] == (
        "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID?taskHub=TestHubName&connection=Storage")
    assert binding["creationUrls"]["createNewInstancePostUri"].endswith("/orchestrators/{functionName}[/{instanceId}]?")
    custom = json.loads(client_binding_json(srv.ctx, req, {"taskHub": "Other", "connectionName": "Conn"}, 1))
    assert custom["taskHubName"] == "Other" and custom["connectionName"] == "Conn"
    assert custom["managementUrls"]["purgeHistoryDeleteUri"].endswith("?taskHub=Other&connection=Conn")
