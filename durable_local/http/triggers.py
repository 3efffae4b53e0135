"""Calling HTTP-triggered user functions the way the Python worker does (PROTOCOL §1.3).

aiohttp request → ``func.HttpRequest(method, url, headers, params, route_params, body)``;
kwargs by binding name (the HTTP trigger, ``durableClient`` = binding JSON string, an
optional ``context``); sync functions run in the default executor, async ones on the
process-wide worker loop (:mod:`durable_local.runtime.worker`, like the language worker);
the return value (``func.HttpResponse``, ``str``, ``bytes``, ``dict``/``list`` or ``None``) is
converted back to an aiohttp response.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import uuid
from functools import partial
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from durable_local.app_loader import FunctionInfo
from durable_local.runtime.context import HostContext
from durable_local.runtime.worker import run_on_worker

from .auth import durable_key
from .payloads import RPC_PATH, client_binding

log = logging.getLogger("durable_local.http.triggers")

_OUT_DIRECTION = (1, "OUT", "out")


class FunctionContext(func.Context):
    """The ``context`` argument (``func.Context``) for one invocation."""

    def __init__(self, function_name: str, function_directory: str = "") -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._tls = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._tls

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class OutValue(func.Out):
    """Placeholder for output bindings this host does not implement (values are discarded)."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


def _joined(pairs: Any) -> dict[str, str]:
    """Multi-valued query/header pairs → dict, repeated names joined with "," (StringValues)."""
    out: dict[str, str] = {}
    for k, v in pairs:
        out[k] = f"{out[k]},{v}" if k in out else v
    return out


def to_http_request(request: web.Request, body: bytes, route_params: dict[str, str]) -> func.HttpRequest:
    """The worker's ``HttpRequest`` for an aiohttp request whose body was already read."""
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=_joined(request.headers.items()),
        params=_joined(request.query.items()),
        route_params=dict(route_params),
        body=body,
    )


def rpc_base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}{RPC_PATH}/"


def client_binding_json(ctx: HostContext, request: web.Request, binding: dict[str, Any], port: int) -> str:
    """The ``durableClient`` value for this request (PROTOCOL §7.1)."""
    origin = f"{request.scheme}://{request.host}"
    data = client_binding(
        origin,
        ctx.hub_name,
        rpc_base_url(port),
        task_hub=binding.get("taskHub") or None,
        connection_name=binding.get("connectionName") or None,
        system_key=durable_key(ctx),
    )
    return json.dumps(data)


def accepts_context(fi: FunctionInfo) -> bool:
    try:
        params = inspect.signature(fi.user_function).parameters
    except (TypeError, ValueError):
        return False
    return "context" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def build_kwargs(
    ctx: HostContext, fi: FunctionInfo, request: web.Request, http_request: func.HttpRequest, port: int
) -> dict[str, Any]:
    """Arguments by binding name, as the worker passes them."""
    kwargs: dict[str, Any] = {}
    for b in fi.bindings:
        name = b.get("name")
        if not name or name == "$return":
            continue
        btype = b.get("type")
        if name == fi.trigger_param:
            kwargs[name] = http_request
        elif btype == "durableClient":
            kwargs[name] = client_binding_json(ctx, request, b, port)
        elif b.get("direction") in _OUT_DIRECTION:
            log.warning(
                "function %s: output binding '%s' (%s) is not supported locally; its value is discarded",
                fi.function_name,
                name,
                btype,
            )
            kwargs[name] = OutValue()
        else:
            log.warning(
                "function %s: input binding '%s' (%s) is not supported locally; passing None",
                fi.function_name,
                name,
                btype,
            )
            kwargs[name] = None
    if "context" not in kwargs and accepts_context(fi):
        kwargs["context"] = FunctionContext(fi.function_name, str(getattr(ctx.app, "app_dir", "")))
    return kwargs


async def call_function(fi: FunctionInfo, kwargs: dict[str, Any]) -> Any:
    """Async functions run on the worker loop (the SDK's shared aiohttp session lives there);
    sync ones in the default executor."""
    if fi.is_async:
        return await run_on_worker(fi.user_function, **kwargs)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(None, partial(fi.user_function, **kwargs))
    if inspect.isawaitable(result):
        result = await result
    return result


def to_aiohttp_response(result: Any) -> web.Response:
    """The worker's HTTP output conversion (``HttpResponseConverter.encode``) + the host's."""
    if isinstance(result, func.HttpResponse):
        headers: CIMultiDict[str] = CIMultiDict()
        for k, v in result.headers.items():
            headers.add(k, v)
        if "content-type" not in headers:
            mt = result.mimetype or "text/plain"
            headers["Content-Type"] = f"{mt}; charset={result.charset}" if mt.startswith("text/") else mt
        return web.Response(status=result.status_code, body=result.get_body() or b"", headers=headers)
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(status=200, text=result, content_type="text/plain")
    if isinstance(result, (bytes, bytearray)):
        return web.Response(status=200, body=bytes(result), content_type="application/octet-stream")
    if isinstance(result, (dict, list)):
        return web.Response(status=200, text=json.dumps(result), content_type="application/json")
    raise TypeError(f"unsupported return type {type(result).__name__} for an HTTP function")


def function_error(fi: FunctionInfo, exc: BaseException) -> web.Response:
    """500 for an exception in user code (logged with traceback by the caller)."""
    body = {
        "error": f"Exception while executing function: Functions.{fi.function_name}",
        "exceptionType": type(exc).__name__,
    }
    return web.Response(status=500, text=json.dumps(body), content_type="application/json")


async def invoke_http_function(
    ctx: HostContext, fi: FunctionInfo, request: web.Request, route_params: dict[str, str], port: int
) -> web.Response:
    """Run one HTTP-triggered function end to end; user errors become a logged 500."""
    body = await request.read()
    http_request = to_http_request(request, body, route_params)
    kwargs = build_kwargs(ctx, fi, request, http_request, port)
    try:
        result = await call_function(fi, kwargs)
        return to_aiohttp_response(result)
    except Exception as exc:
        log.exception("Executed 'Functions.%s' (Failed)", fi.function_name)
        return function_error(fi, exc)
