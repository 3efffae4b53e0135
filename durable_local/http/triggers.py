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
import json
import logging
from functools import partial
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from durable_local.app_loader import FunctionInfo
from durable_local.bindings.invocation import (
    BindingError,
    FunctionContext,
    OutValue,
    durable_client_json,
    finish,
    prepare,
    reads_storage,
)
from durable_local.bindings.runner import call_user_function, client_env, rpc_base_url
from durable_local.runtime.context import HostContext

__all__ = [
    "FunctionContext",
    "OutValue",
    "client_binding_json",
    "invoke_http_function",
    "rpc_base_url",
    "to_aiohttp_response",
]

log = logging.getLogger("durable_local.http.triggers")


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


def client_binding_json(ctx: HostContext, request: web.Request, binding: dict[str, Any], port: int) -> str:
    """The ``durableClient`` value for this request (PROTOCOL §7.1): URLs on the request's origin."""
    return durable_client_json(client_env(ctx, f"{request.scheme}://{request.host}", port), binding)


def http_trigger_data(http_request: func.HttpRequest) -> dict[str, Any]:
    """Binding data of an HTTP trigger: route parameters, ``query.*``, ``headers.*`` and the
    properties of a JSON object body, as the host offers them to binding expressions."""
    data: dict[str, Any] = {"query": dict(http_request.params), "headers": dict(http_request.headers)}
    try:
        body = json.loads(http_request.get_body() or b"null")
    except (ValueError, RecursionError):  # not JSON, or nested too deep to be binding data (S1)
        body = None
    if isinstance(body, dict):
        data.update(body)
    data.update(http_request.route_params)
    return data


def _is_http_return(fi: FunctionInfo) -> bool:
    return any(b.get("name") == "$return" and b.get("type") == "http" for b in fi.bindings) or not any(
        b.get("name") == "$return" for b in fi.bindings
    )


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
    """Run one HTTP-triggered function end to end; user errors become a logged 500, binding
    errors (a missing expression value, storage unreachable) a logged 500 naming the binding."""
    body = await request.read()
    http_request = to_http_request(request, body, route_params)
    loop = asyncio.get_running_loop()
    try:
        env = client_env(ctx, f"{request.scheme}://{request.host}", port)
        call = partial(
            prepare,
            fi,
            http_request,
            http_trigger_data(http_request),
            env,
            function_directory=str(getattr(ctx.app, "app_dir", "")),
            skip_types=("http",),
        )
        inv = await loop.run_in_executor(None, call) if reads_storage(fi) else call()
        result = await call_user_function(fi, inv.kwargs)
        if inv.outputs:
            await loop.run_in_executor(None, partial(finish, inv, result, env.queue_encoding))
        return to_aiohttp_response(result if _is_http_return(fi) else None)
    except BindingError as exc:
        log.error("Executed 'Functions.%s' (Failed): %s", fi.function_name, exc)
        return function_error(fi, exc)
    except Exception as exc:
        log.exception("Executed 'Functions.%s' (Failed)", fi.function_name)
        return function_error(fi, exc)
