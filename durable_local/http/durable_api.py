"""aiohttp handlers of the Durable HTTP management API (EXT ``HttpApiHandler``, PROTOCOL §8).

The same handlers serve ``/runtime/webhooks/durabletask/`` and the local RPC base
``/durabletask/``; ``handle(request, ctx, rest)`` gets the path below the base (still
percent-encoded). Handlers are thin: parsing + :mod:`operations` in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from aiohttp import web

from durable_local.engine.events import parse_timestamp
from durable_local.engine.messages import compact_json, dumps_compact
from durable_local.runtime.context import HostContext
from durable_local.store.base import TERMINAL_STATES, InstanceQuery, StoreError

from . import operations as ops
from .auth import durable_key
from .payloads import CheckStatusTemplate, check_status_payload
from .routes import ALL_METHODS, Route, Router, RouteTemplate
from .starter import writer_of

log = logging.getLogger("durable_local.http.durable")

T = TypeVar("T")
_STATUSES = ("Running", "Completed", "ContinuedAsNew", "Failed", "Canceled", "Terminated", "Pending", "Suspended")
_BY_LOWER = {s.lower(): s for s in _STATUSES}
Handler = Callable[[web.Request, HostContext, dict[str, str]], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response; ``None`` = empty body (the SDK reads empty bodies as None)."""
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, headers=headers, text=json.dumps(body), content_type="application/json")


def error_response(exc: ops.OperationError) -> web.Response:
    return json_response(exc.body, exc.status)


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (blocking) store operation in the default executor."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))


def query_bool(request: web.Request, name: str, default: bool) -> bool:
    """.NET ``bool.TryParse`` semantics: true/false in any case, anything else = default."""
    value = request.query.get(name, "").strip().lower()
    return {"true": True, "false": False}.get(value, default)


def _query_time(request: web.Request, name: str) -> Any:
    text = request.query.get(name)
    if not text:
        return None
    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError):
        return None


def _query_int(request: web.Request, name: str, default: int) -> int:
    try:
        value = int(request.query.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


_TEMPLATES: dict[tuple[str, str, str | None], CheckStatusTemplate | None] = {}
_MAX_TEMPLATES = 64  # origins come from Host headers: keep the cache bounded


def _template(origin: str, hub_name: str, key: str | None) -> CheckStatusTemplate | None:
    k = (origin, hub_name, key)
    try:
        return _TEMPLATES[k]
    except KeyError:
        pass
    if len(_TEMPLATES) >= _MAX_TEMPLATES:
        _TEMPLATES.clear()
    try:
        template: CheckStatusTemplate | None = CheckStatusTemplate(origin, hub_name, system_key=key)
    except ValueError:
        template = None  # a marker in the origin: build such payloads the slow way
    _TEMPLATES[k] = template
    return template


def _check_status(request: web.Request, ctx: HostContext, instance_id: str) -> web.Response:
    """The 202 check-status response (EXT ``CreateCheckStatusResponse``)."""
    origin, hub, key = _origin(request), ctx.hub_name, durable_key(ctx)
    template = _template(origin, hub, key)
    if template is None:
        payload = check_status_payload(origin, instance_id, hub, system_key=key)
        return json_response(payload, 202, {"Location": payload["statusQueryGetUri"], "Retry-After": "10"})
    body, location = template.render(instance_id)  # = json.dumps(check_status_payload(...))
    return web.Response(
        status=202,
        body=body,
        headers={"Location": location, "Retry-After": "10"},
        content_type="application/json",
        charset="utf-8",
    )


async def _read_text(request: web.Request, invalid: str = "Invalid JSON content") -> str:
    raw = await request.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ops.BadRequest(invalid, message=invalid) from None


# -- orchestrators --------------------------------------------------------------------------


def _wait_params(request: web.Request) -> tuple[float, float] | None:
    if "timeout" not in request.query or "pollingInterval" not in request.query:
        return None
    try:
        timeout, interval = float(request.query["timeout"]), float(request.query["pollingInterval"])
    except ValueError:
        raise ops.BadRequest("timeout and pollingInterval must be numbers of seconds.") from None
    if not (0 <= timeout <= 3600 and 0 < interval <= 3600):
        raise ops.BadRequest("timeout must be 0..3600 seconds and pollingInterval 0..3600 seconds (exclusive of 0).")
    return timeout, interval


async def start(request: web.Request, ctx: HostContext, values: dict[str, str]) -> web.StreamResponse:
    """``POST orchestrators/{functionName}/{instanceId?}``."""
    wait = _wait_params(request)
    input_text: str | None = None
    text = await _read_text(request)
    if text.strip():
        try:
            value = json.loads(text)
            # the SDK sends df_dumps(input) as a JSON string; other JSON is taken as the input itself
            input_text = value if isinstance(value, str) else (None if value is None else dumps_compact(value))
        except (ValueError, RecursionError):
            raise ops.BadRequest("Invalid JSON content", message="Invalid JSON content") from None
    version = request.query.get("version")
    # validation and rows here (cheap); the durable commit on the app's start threads
    rec, start_message = ops.prepare_start(ctx, values["functionName"], values.get("instanceId"), input_text, version)
    writer = writer_of(request)
    if writer is not None:
        await writer.commit(rec, start_message)
    else:
        await run(ops.commit_start, ctx, rec, start_message)
        ctx.notify()
    if wait is None:
        return _check_status(request, ctx, rec.instance_id)
    return await _wait_or_check(request, ctx, rec.instance_id, *wait)


async def _wait_or_check(
    request: web.Request, ctx: HostContext, instance_id: str, timeout: float, interval: float
) -> web.StreamResponse:
    """EXT ``WaitForCompletionOrCreateCheckStatusResponseAsync``."""
    deadline = time.monotonic() + timeout
    while True:
        rec = await run(ops.get_instance, ctx, instance_id)
        if rec is not None and rec.runtime_status in TERMINAL_STATES:
            payload = await run(ops.get_status, ctx, instance_id)
            if rec.runtime_status == "Completed":
                return json_response(payload["output"] if payload else None, 200)
            return json_response(payload, 500 if rec.runtime_status == "Failed" else 200)
        if time.monotonic() >= deadline:
            return _check_status(request, ctx, instance_id)
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))


# -- instances --------------------------------------------------------------------------------


def _instance_query(request: web.Request) -> InstanceQuery:
    statuses: list[str] = []
    for raw in request.query.getall("runtimeStatus", []):
        for item in raw.split(","):
            name = _BY_LOWER.get(item.strip().lower())
            if name and name not in statuses:
                statuses.append(name)
    return InstanceQuery(
        runtime_status=statuses or None,
        created_from=_query_time(request, "createdTimeFrom"),
        created_to=_query_time(request, "createdTimeTo"),
        instance_id_prefix=request.query.get("instanceIdPrefix") or None,
        top=_query_int(request, "top", 100),
        continuation=request.headers.get("x-ms-continuation-token") or None,
    )


async def instances(request: web.Request, ctx: HostContext, values: dict[str, str]) -> web.StreamResponse:
    """``instances/{instanceId?}/{operation?}``: list, purge, status and POST operations."""
    iid, operation, method = values.get("instanceId"), values.get("operation"), request.method
    if iid is None:
        if method == "GET":
            items, token = await run(
                ops.list_instances, ctx, _instance_query(request), show_input=query_bool(request, "showInput", True)
            )
            return json_response(items, 200, {"x-ms-continuation-token": token} if token else None)
        if method == "DELETE":
            n = await run(ops.purge_instances, ctx, _instance_query(request))
            return json_response({"instancesDeleted": n})
        return json_response(None, 404)
    if operation is None:
        if method == "GET":
            return await _status(request, ctx, iid)
        if method == "DELETE":
            return json_response({"instancesDeleted": await run(ops.purge_instance, ctx, iid)})
        return json_response(None, 404)
    if method != "POST":
        return json_response(None, 404)
    reason = request.query.get("reason")
    op = operation.lower()
    if op in ("terminate", "suspend", "resume", "rewind"):
        await run(getattr(ops, op), ctx, iid, reason)
        return json_response(None, 202)
    if op == "restart":
        new_id = query_bool(request, "restartWithNewInstanceId", True)
        wait = _wait_params(request)
        rec = await run(ops.restart, ctx, iid, new_id)
        if wait is None:
            return _check_status(request, ctx, rec.instance_id)
        return await _wait_or_check(request, ctx, rec.instance_id, *wait)
    return json_response(None, 404)


async def _status(request: web.Request, ctx: HostContext, iid: str) -> web.StreamResponse:
    payload = await run(
        ops.get_status,
        ctx,
        iid,
        show_input=query_bool(request, "showInput", True),
        show_history=query_bool(request, "showHistory", False),
        show_history_output=query_bool(request, "showHistoryOutput", False),
    )
    if payload is None:
        return json_response(None, 404)
    status = payload["runtimeStatus"]
    if status in ("Running", "Pending", "ContinuedAsNew", "Suspended"):
        return json_response(payload, 202, {"Location": str(request.url), "Retry-After": "5"})
    if status == "Failed" and query_bool(request, "returnInternalServerErrorOnFailure", False):
        return json_response(payload, 500)
    return json_response(payload, 200)


async def raise_event(request: web.Request, ctx: HostContext, values: dict[str, str]) -> web.StreamResponse:
    """``POST instances/{instanceId}/raiseEvent/{eventName}`` (body: JSON)."""
    iid = values.get("instanceId")
    if iid is None:
        return json_response(None, 404)
    await run(ops.check_raise_event_target, ctx, iid)
    if request.content_type != "application/json":
        msg = "Only application/json request content is supported"
        raise ops.BadRequest(msg, message=msg)
    input_text = ops.compact_body(await _read_text(request))
    await run(ops.raise_event, ctx, iid, values["eventName"], input_text)
    return json_response(None, 202)


# -- entities ---------------------------------------------------------------------------------


async def entities(request: web.Request, ctx: HostContext, values: dict[str, str]) -> web.StreamResponse:
    """``entities/{entityName?}/{entityKey?}``: read, list and signal."""
    name, key, method = values.get("entityName"), values.get("entityKey"), request.method
    if method == "GET" and key is None:
        q = ops.EntityQuery(
            name=name,
            last_operation_from=_query_time(request, "lastOperationTimeFrom"),
            last_operation_to=_query_time(request, "lastOperationTimeTo"),
            fetch_state=query_bool(request, "fetchState", False),
            top=_query_int(request, "top", 100),
            continuation=request.headers.get("x-ms-continuation-token") or None,
        )
        items, token = await run(ops.list_entities, ctx, q)
        return json_response(items, 200, {"x-ms-continuation-token": token} if token else None)
    if name is None or key is None:
        raise ops.BadRequest("An entity name and key are required for this operation.")
    if method == "GET":
        exists, state = await run(ops.read_entity, ctx, name, key)
        if not exists:
            return json_response(None, 404)
        text = state if state is not None else "null"
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            text = json.dumps(text)
        return web.Response(status=200, text=text, content_type="application/json")
    op = "delete" if method == "DELETE" else request.query.get("op", "")
    text = await _read_text(request, "Could not parse JSON content")
    input_text: str | None = None
    if text.strip():
        if request.content_type == "application/json":
            try:
                input_text = compact_json(json.dumps(json.loads(text)))  # a JSON null body means "no input"
            except (ValueError, RecursionError) as exc:
                msg = f"Could not parse JSON content: {exc}"
                raise ops.BadRequest(msg, message=msg) from None
        else:
            input_text = dumps_compact(text)  # other media types: the raw text as a string input
    await run(ops.signal_entity, ctx, name, key, op, input_text)
    return json_response(None, 202)


async def make_primary(request: web.Request, ctx: HostContext, values: dict[str, str]) -> web.StreamResponse:
    return json_response(None, 200)


ROUTER = Router(
    [
        Route(RouteTemplate.parse("orchestrators/{functionName}/{instanceId?}"), frozenset({"POST"}), start),
        Route(RouteTemplate.parse("instances/{instanceId?}/raiseEvent/{eventName}"), frozenset({"POST"}), raise_event),
        Route(
            RouteTemplate.parse("instances/{instanceId?}/{operation?}"), frozenset({"GET", "POST", "DELETE"}), instances
        ),
        Route(
            RouteTemplate.parse("entities/{entityName?}/{entityKey?}"), frozenset({"GET", "POST", "DELETE"}), entities
        ),
        Route(RouteTemplate.parse("makeprimary"), frozenset(ALL_METHODS), make_primary),
    ]
)


_RESOLVED: dict[tuple[str, str], tuple[Route, dict[str, str]] | None] = {}
_MAX_RESOLVED = 1024  # paths with instance ids are one-offs: keep the cache bounded


def _resolve(rest: str, method: str) -> tuple[Route, dict[str, str]] | None:
    """``ROUTER.resolve`` memoized per (path, method): repeated paths such as
    ``orchestrators/{name}`` (every start with a generated id) skip the template regexes."""
    key = (rest, method)
    try:
        found = _RESOLVED[key]
    except KeyError:
        found = ROUTER.resolve(rest, method)
        if len(_RESOLVED) >= _MAX_RESOLVED:
            _RESOLVED.clear()
        _RESOLVED[key] = found
    return None if found is None else (found[0], dict(found[1]))


async def handle(request: web.Request, ctx: HostContext, rest: str) -> web.StreamResponse:
    """Dispatch ``rest`` (the raw path below the base) to a handler; map OperationError to
    its status. Unexpected exceptions are logged and answered with a generic 500."""
    found = _resolve(rest, request.method)
    if found is None:
        return json_response(None, 404)
    route, values = found
    handler: Handler = route.target
    try:
        return await handler(request, ctx, values)
    except ops.OperationError as exc:
        return error_response(exc)
    except web.HTTPException:
        raise  # e.g. 413 from aiohttp's body limit
    except StoreError as exc:  # storage unreachable or timing out: one line, and the caller may retry
        log.error("durable API %s %s: %s", request.method, route.template.text, exc)
        return json_response({"Message": "The task hub's storage is unavailable; retry the request"}, 503)
    except Exception:
        log.exception("durable API %s %s failed", request.method, route.template.text)
        return json_response(
            {
                "Message": "Something went wrong while processing your request",
                "ExceptionMessage": "Internal error (see the host log)",
                "ExceptionType": "System.Exception",
            },
            500,
        )
