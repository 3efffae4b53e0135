"""Fixtures for the HTTP layer: a small DFApp, a memory store and a real loopback server."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import azure.durable_functions as df
import azure.functions as func
import pytest
from aiohttp.test_utils import TestServer

from durable_local.app_loader import HostSettings, LoadedApp, Registry, index_functions
from durable_local.http.payloads import client_binding
from durable_local.http.server import RedactingAccessLogger, build_app
from durable_local.http.triggers import rpc_base_url
from durable_local.runtime.clock import VirtualClock
from durable_local.runtime.context import HostContext
from durable_local.runtime.worker import run_on_worker
from durable_local.store.memory import MemoryStore


def make_function_app() -> df.DFApp:
    """A fresh app per test (``get_functions()`` may only be called once per app object)."""
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="orchestrators/{functionName}", methods=["POST"])
    @app.durable_client_input(client_name="client")
    async def starter(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        body = req.get_body()
        instance_id = await client.start_new(req.route_params["functionName"], None,
                                              json.loads(body) if body else None)
        return client.create_check_status_response(req, instance_id)

    @app.route(route="ctx/{id:int}", methods=["GET"])
    @app.durable_client_input(client_name="client")
    async def with_context(req: func.HttpRequest, client: df.DurableOrchestrationClient,
                           context: func.Context) -> func.HttpResponse:
        return func.HttpResponse(json.dumps({"invocation": context.invocation_id, "fn": context.function_name,
                                             "id": req.route_params["id"]}), mimetype="application/json")

    @app.route(route="echo/{*rest}", methods=["GET", "POST", "PUT"])
    def echo(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(json.dumps({
            "method": req.method, "url": req.url, "params": dict(req.params), "route": dict(req.route_params),
            "body": req.get_body().decode("utf-8", "replace"), "ct": req.headers.get("content-type"),
            "x": req.headers.get("X-Custom"),
        }), status_code=201, headers={"X-Reply": "yes"}, mimetype="application/json")

    @app.route(route="plain")
    def plain(req: func.HttpRequest) -> str:
        return "just text"

    @app.route(route="boom")
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("user bug")

    @app.route(route="secure", auth_level=func.AuthLevel.FUNCTION)
    def secure(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    @app.route(route="adminonly", auth_level=func.AuthLevel.ADMIN)
    def adminonly(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    @app.orchestration_trigger(context_name="context")
    def hello_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        result = yield context.call_activity("say_hello", context.get_input())
        return result

    @app.orchestration_trigger(context_name="context", orchestration="NamedOrch")
    def renamed_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        return None
        yield

    @app.activity_trigger(input_name="name")
    def say_hello(name: str) -> str:
        return f"Hello {name}!"

    @app.entity_trigger(context_name="context")
    def Counter(context: df.DurableEntityContext) -> None:
        context.set_state((context.get_state(lambda: 0) or 0) + 1)

    return app


def make_ctx(*, route_prefix: str = "api", master_key: str | None = None, system_key: str | None = None,
             function_keys: dict[str, str] | None = None) -> HostContext:
    registry = Registry.build(index_functions(make_function_app()))
    loaded = LoadedApp(app_dir=Path("."), registry=registry, settings=HostSettings(route_prefix=route_prefix),
                       app_settings={})
    return HostContext(app=loaded, store=MemoryStore(), clock=VirtualClock(), master_key=master_key,
                       system_key=system_key, function_keys=dict(function_keys or {}))


@dataclass
class Served:
    """A running server over a HostContext plus a client session."""

    ctx: HostContext
    server: TestServer
    session: aiohttp.ClientSession
    notified: list[int]

    @property
    def store(self) -> MemoryStore:
        return self.ctx.store  # type: ignore[return-value]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any, Any]:
        async with self.session.request(method, self.base + path, **kw) as r:
            text = await r.text()
            try:
                body: Any = json.loads(text) if text else None
            except ValueError:
                body = text
            return r.status, body, r.headers

    def binding(self) -> str:
        return json.dumps(client_binding(self.base, self.ctx.hub_name, rpc_base_url(self.server.port),
                                         system_key=self.ctx.system_key))

    def client(self) -> WorkerClient:
        return WorkerClient(df.DurableOrchestrationClient(self.binding()))


class WorkerClient:
    """Runs the SDK client's coroutines on the worker loop, where user code (and the SDK's
    process-wide aiohttp session) lives — as if the calls came from a client function."""

    def __init__(self, client: df.DurableOrchestrationClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **kw: run_on_worker(attr, *a, **kw)
        return attr


ServeFactory = Callable[..., Any]


@pytest.fixture
async def serve() -> AsyncIterator[ServeFactory]:
    """``await serve(**make_ctx kwargs)`` → a started :class:`Served`; all are stopped at teardown."""
    started: list[Served] = []

    async def factory(**kw: Any) -> Served:
        ctx = make_ctx(**kw)
        notified: list[int] = []
        ctx.notify = lambda: notified.append(1)
        holder: dict[str, TestServer] = {}
        server = TestServer(build_app(ctx, port_getter=lambda: holder["s"].port), host="127.0.0.1")
        holder["s"] = server
        await server.start_server(access_log_class=RedactingAccessLogger)
        served = Served(ctx, server, aiohttp.ClientSession(), notified)
        started.append(served)
        return served

    yield factory
    for s in started:
        await s.session.close()
        await s.server.close()


@pytest.fixture
async def srv(serve: ServeFactory) -> Served:
    return await serve()
