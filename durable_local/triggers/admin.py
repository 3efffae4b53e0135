"""``POST /admin/functions/{name}`` with ``{"input": "..."}``: run a non-HTTP function on demand.

As with Core Tools, the answer is 202 at once and the function runs in the background; the
input becomes the trigger value the way the function's trigger would deliver it:

* timer: a ``TimerRequest`` (not past due; the input is ignored);
* queue: a ``QueueMessage`` whose body is the input;
* blob: the input is the blob path (``container/name``), read through the trigger's connection;
* activity: the input as the activity's input (JSON if it parses, else the text);
* Service Bus / Event Hubs: a message / event with the input as body; Event Grid: the input is
  the event JSON; Cosmos DB: the input is a JSON document or a list of them; others: the text.

Functions disabled by ``AzureWebJobs.<name>.Disabled`` and triggers that do not run locally
still run this way. Orchestrators, entities and HTTP functions are not invoked here (400 says
how to start them). Unknown function: 404; a body that is not ``{"input": <string>}``: 400.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from durable_local.app_loader import FunctionInfo
from durable_local.bindings.invocation import blob_param_value
from durable_local.bindings.runner import invoke_function
from durable_local.runtime.context import HostContext

log = logging.getLogger("durable_local.triggers.admin")

# the invocations still running, per server: kept referenced, and awaited when it shuts down
_RUNNING: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("durable_local.admin_invocations")


def install(app: web.Application) -> None:
    """Let ``app``'s shutdown wait for admin invocations in flight (Ctrl-C finishes them)."""
    app[_RUNNING] = set()

    async def drain(app: web.Application) -> None:
        running: set[asyncio.Task[Any]] = app[_RUNNING]
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    app.on_shutdown.append(drain)


class BadInput(Exception):
    """The request cannot run the function; the message is the 400 body's text."""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _body(text: str | None) -> bytes:
    return (text or "").encode("utf-8")


def _event_grid(fi: FunctionInfo, text: str | None) -> func.EventGridEvent:
    event = _json_or_text(text)
    if not isinstance(event, dict):
        raise BadInput(f"Function '{fi.function_name}' (eventGridTrigger): 'input' must be an Event Grid event as JSON")
    when = event.get("eventTime")
    return func.EventGridEvent(
        id=str(event.get("id", uuid.uuid4())),
        data=event.get("data") or {},
        topic=str(event.get("topic", "")),
        subject=str(event.get("subject", "")),
        event_type=str(event.get("eventType", "")),
        event_time=datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else None,
        data_version=str(event.get("dataVersion", "")),
    )


def _documents(fi: FunctionInfo, text: str | None) -> func.DocumentList:
    docs = _json_or_text(text)
    docs = [docs] if isinstance(docs, dict) else docs
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise BadInput(f"Function '{fi.function_name}' (cosmosDBTrigger): 'input' must be a JSON document or a list")
    return func.DocumentList([func.Document(d) for d in docs])


def _queue_message(text: str | None, now: datetime) -> tuple[Any, dict[str, Any]]:
    message_id = str(uuid.uuid4())
    msg = QueueMessage(
        id=message_id,
        body=_body(text),
        dequeue_count=1,
        insertion_time=now,
        expiration_time=now + timedelta(days=7),
        pop_receipt=None,
    )
    return msg, {"queueTrigger": text or "", "Id": message_id, "DequeueCount": 1}


def _blob(fi: FunctionInfo, text: str | None) -> tuple[Any, dict[str, Any]]:
    """Blocking (storage I/O): the blob at the path given as input."""
    from durable_local.bindings.connections import StorageConnectionError, setting_name
    from durable_local.bindings.storage_io import BindingDataError, read_blob

    path = (text or "").strip().strip("/")
    if "/" not in path:
        raise BadInput(f"Function '{fi.function_name}' (blobTrigger): 'input' must be a blob path 'container/name'")
    try:
        found = read_blob(setting_name(fi.trigger), path)
    except (StorageConnectionError, BindingDataError) as exc:
        raise BadInput(f"Function '{fi.function_name}' (blobTrigger): {exc}") from None
    if found is None:
        raise BadInput(f"Function '{fi.function_name}' (blobTrigger): blob '{path}' does not exist")
    data, properties, uri = found
    name = path.split("/", 1)[1]
    value = blob_param_value(fi, fi.trigger, path, data, uri, properties)
    return value, {"name": name, "blobTrigger": path, "Uri": uri}


def trigger_value(ctx: HostContext, fi: FunctionInfo, text: str | None) -> tuple[Any, dict[str, Any]]:
    """The trigger value and binding data for ``fi`` from an admin input (blocking for blobs)."""
    kind = str(fi.trigger.get("type", ""))
    now = ctx.clock.now()
    if kind == "timerTrigger":
        return TimerRequest(past_due=False, schedule_status={}, schedule={"AdjustForDST": True}), {}
    if kind == "queueTrigger":
        return _queue_message(text, now)
    if kind == "blobTrigger":
        return _blob(fi, text)
    if kind == "activityTrigger":
        return _json_or_text(text), {}
    if kind == "serviceBusTrigger":
        return func.ServiceBusMessage(body=_body(text)), {}
    if kind == "eventHubTrigger":
        return func.EventHubEvent(body=_body(text), enqueued_time=now), {}
    if kind == "eventGridTrigger":
        return _event_grid(fi, text), {}
    if kind == "cosmosDBTrigger":
        return _documents(fi, text), {}
    if fi.kind == "orchestrator":
        raise BadInput(
            f"Function '{fi.function_name}' is an orchestrator: start it with "
            f"POST /runtime/webhooks/durabletask/orchestrators/{fi.durable_name}"
        )
    if fi.kind == "entity":
        raise BadInput(f"Function '{fi.function_name}' is an entity: signal it through the Durable HTTP API")
    if fi.kind == "http":
        raise BadInput(f"Function '{fi.function_name}' is an HTTP function: call its route")
    return text, {}


async def _run(ctx: HostContext, fi: FunctionInfo, value: Any, data: dict[str, Any]) -> None:
    log.info(
        "Executing 'Functions.%s' (Reason='This function was programmatically called via the host APIs.')",
        fi.function_name,
    )
    try:
        await invoke_function(ctx, fi, value, data)
        log.info("Executed 'Functions.%s' (Succeeded)", fi.function_name)
    except Exception as exc:  # the user's failure: logged in one line, as a trigger's would be
        log.error("Executed 'Functions.%s' (Failed): %s: %s", fi.function_name, type(exc).__name__, exc)


async def invoke(ctx: HostContext, request: web.Request, name: str) -> web.Response:
    """Handle ``POST /admin/functions/{name}`` (the caller has checked the master key)."""
    fi = ctx.app.registry.function(name)
    if fi is None:
        return _error(404, f"Function '{name}' does not exist")
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return _error(400, 'The request body must be JSON: {"input": "..."}')
    if not isinstance(body, dict):
        return _error(400, 'The request body must be a JSON object: {"input": "..."}')
    text = body.get("input")
    if text is not None and not isinstance(text, str):
        return _error(400, f"'input' must be a string, not {type(text).__name__}")
    try:
        value, data = await asyncio.get_running_loop().run_in_executor(None, partial(trigger_value, ctx, fi, text))
    except BadInput as exc:
        return _error(400, str(exc))
    task = asyncio.create_task(_run(ctx, fi, value, data))
    running = request.app[_RUNNING]
    running.add(task)
    task.add_done_callback(running.discard)
    return web.Response(status=202)
