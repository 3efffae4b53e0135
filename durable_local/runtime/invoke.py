"""Calling user functions the way the Python worker does (PROTOCOL §1.3; docs/ARCHITECTURE.md 5.1).

Orchestrator and entity handles get the context JSON wrapped in the azure-functions
context types; activities get their input through ``ActivityTriggerConverter`` and their
return value is encoded by it, then re-serialized compactly as the extension stores it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from durable_local.app_loader import FunctionInfo
from durable_local.bindings.invocation import (
    QUEUE_ENCODING_DEFAULT,
    ClientEnv,
    Invocation,
    finish,
    has_extra_bindings,
    prepare,
)
from durable_local.runtime.worker import run_on_worker, worker_loop


def orchestrator_handle(info: FunctionInfo) -> Callable[[str], Any]:
    uf = info.user_function

    def call(context_json: str) -> Any:
        return uf(func.OrchestrationContext(context_json))

    call.sdk_handle = uf  # type: ignore[attr-defined]  # extended sessions drive the SDK directly
    return call


def entity_handle(info: FunctionInfo) -> Callable[[str], Any]:
    uf = info.user_function

    def call(batch_json: str) -> Any:
        return uf(func.EntityContext(batch_json))

    return call


def decode_activity_input(input_text: str | None) -> Any:
    if input_text is None:
        return None
    return ActivityTriggerConverter.decode(meta.Datum(type="string", value=input_text), trigger_metadata=None)


def encode_activity_result(value: Any) -> str | None:
    """Worker encode (df_dumps), then the extension's compact re-serialization; None -> no result."""
    datum = ActivityTriggerConverter.encode(value, expected_type=None)
    text = datum.value if datum is not None else None
    if text is None:
        return None
    parsed = json.loads(text)
    if parsed is None:
        return None
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)


def activity_kwargs(info: FunctionInfo, arg: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {info.trigger_param: arg}
    if info.trigger_param != "context" and _takes_context(info.user_function):
        kwargs["context"] = None
    return kwargs


@functools.lru_cache(maxsize=1024)
def _takes_context(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` has a ``context`` parameter (inspect.signature is slow: once per function)."""
    try:
        return "context" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def activity_trigger_data(arg: Any, instance_id: str) -> dict[str, Any]:
    """Binding data of an activity trigger: ``instanceId`` and the properties of a JSON object input."""
    data: dict[str, Any] = dict(arg) if isinstance(arg, dict) else {}
    data["instanceId"] = instance_id
    return data


def _prepare_activity(info: FunctionInfo, arg: Any, env: ClientEnv | None, instance_id: str) -> Invocation | None:
    """The bound invocation of an activity that has bindings besides its trigger (None: it has none)."""
    if not has_extra_bindings(info):
        return None
    return prepare(info, arg, activity_trigger_data(arg, instance_id), env)


async def call_activity(
    info: FunctionInfo,
    input_text: str | None,
    run_sync: Callable[..., Any],
    env: ClientEnv | None = None,
    instance_id: str = "",
) -> str | None:
    """Run one activity; raises whatever the user code raises. ``run_sync(fn)`` runs a sync
    function off the event loop (the dispatcher's thread pool). Bindings besides the trigger
    (durable client, storage inputs and outputs) are prepared and written off the loop too;
    outputs only once the activity returned."""
    arg = decode_activity_input(input_text)
    inv = await run_sync(lambda: _prepare_activity(info, arg, env, instance_id)) if has_extra_bindings(info) else None
    kwargs = inv.kwargs if inv is not None else activity_kwargs(info, arg)
    if info.is_async:
        result = await run_on_worker(info.user_function, **kwargs)
    else:
        result = await run_sync(lambda: info.user_function(**kwargs))
        if inspect.isawaitable(result):
            result = await result
    if inv is not None and inv.outputs:
        await run_sync(lambda: finish(inv, result, env.queue_encoding if env else QUEUE_ENCODING_DEFAULT))
    return encode_activity_result(result)


def call_activity_sync(
    info: FunctionInfo, input_text: str | None, env: ClientEnv | None = None, instance_id: str = ""
) -> str | None:
    """``call_activity`` for a worker process: blocks; async functions run on the worker loop."""
    arg = decode_activity_input(input_text)
    inv = _prepare_activity(info, arg, env, instance_id)
    kwargs = inv.kwargs if inv is not None else activity_kwargs(info, arg)
    if info.is_async:
        result = asyncio.run_coroutine_threadsafe(info.user_function(**kwargs), worker_loop()).result()
    else:
        result = info.user_function(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run_coroutine_threadsafe(maybe_await(result), worker_loop()).result()
    if inv is not None and inv.outputs:
        finish(inv, result, env.queue_encoding if env else QUEUE_ENCODING_DEFAULT)
    return encode_activity_result(result)


async def call_http_activity(request: dict[str, Any], timeout: float = 240.0) -> str:
    """Perform a ``call_http`` request (BuiltIn::HttpActivity) and build the DurableHttpResponse
    JSON the extension returns (§3.11): statusCode, headers (one value -> string), content."""
    import aiohttp

    headers = dict(request.get("headers") or {})
    content = request.get("content")
    content_type = None
    for key in list(headers):
        if key.lower() == "content-type":
            content_type = headers.pop(key)
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else None
    data = None
    if content is not None:
        data = content.encode("utf-8") if isinstance(content, str) else json.dumps(content).encode("utf-8")
        headers["Content-Type"] = content_type or "text/plain; charset=utf-8"
    flat = {k: (", ".join(v) if isinstance(v, list) else str(v)) for k, v in headers.items()}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.request(str(request.get("method", "GET")), str(request["uri"]), data=data, headers=flat) as resp,
    ):
        body = await resp.text()
        out_headers: dict[str, Any] = {}
        for key in resp.headers:
            if key.lower().startswith("content-"):
                continue
            values = resp.headers.getall(key)
            out_headers[key] = values[0] if len(values) == 1 else list(values)
        return json.dumps({"statusCode": resp.status, "headers": out_headers, "content": body})


async def maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or inspect.isawaitable(value):
        return await value
    return value
