"""Start and stop the listeners of non-HTTP triggers with the host, and say what runs.

The Functions host starts one listener per triggered function. Here a listener is anything
with ``async start()`` and ``async stop()`` (:class:`TriggerListener`), made by a factory
``create_listener(ctx, fi) -> TriggerListener`` registered in :data:`LISTENER_FACTORIES` by
trigger binding type. Factories are imported only when the app has such a trigger, so an app
without queue triggers never imports the Azure Storage SDKs.

For every function the manager also decides the note shown in the start-up listing:

* ``disabled`` — ``AzureWebJobs.<name>.Disabled`` is "true"/"1": no listener, never fires;
* ``not run locally: needs <service>`` — a trigger this host has no listener for (Service Bus,
  Event Hubs, ...): the host carries on, and ``POST /admin/functions/<name>`` still runs it;
* ``error: <one line>`` — the trigger's configuration is invalid (a malformed schedule, a
  missing connection setting): that function does not run, the rest of the app does.

Durable triggers (orchestration, activity, entity) are run by the dispatchers and HTTP
triggers by the HTTP server, not by listeners.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from typing import Protocol

from durable_local.app_loader import FunctionInfo
from durable_local.runtime.context import HostContext

log = logging.getLogger("durable_local.triggers")


class TriggerListener(Protocol):
    """One running trigger: started after the HTTP server and dispatchers, stopped before them."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class TriggerSetupError(Exception):
    """A trigger cannot run as configured. The message is one line naming the function and
    the setting (it is printed as is at start-up)."""


ListenerFactory = Callable[[HostContext, FunctionInfo], TriggerListener]

# trigger binding type -> "module:factory"
LISTENER_FACTORIES: dict[str, str] = {
    "timerTrigger": "durable_local.triggers.timer:create_listener",
    "queueTrigger": "durable_local.triggers.queue:create_listener",
    "blobTrigger": "durable_local.triggers.blob:create_listener",
}

# trigger binding type -> the service it needs, for triggers no local listener serves
NEEDS_SERVICE: dict[str, str] = {
    "serviceBusTrigger": "Service Bus",
    "eventHubTrigger": "Event Hubs",
    "cosmosDBTrigger": "Cosmos DB",
    "eventGridTrigger": "Event Grid",
    "kafkaTrigger": "Kafka",
    "rabbitMQTrigger": "RabbitMQ",
    "signalRTrigger": "Azure SignalR Service",
    "sqlTrigger": "Azure SQL",
    "mysqlTrigger": "Azure Database for MySQL",
    "webPubSubTrigger": "Azure Web PubSub",
    "daprBindingTrigger": "Dapr",
    "daprServiceInvocationTrigger": "Dapr",
    "daprTopicTrigger": "Dapr",
}

_SERVED_ELSEWHERE = ("orchestrator", "activity", "entity", "http")


def _factory(trigger_type: str) -> ListenerFactory | None:
    target = LISTENER_FACTORIES.get(trigger_type)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    factory: ListenerFactory = getattr(importlib.import_module(module_name), attr)
    return factory


def not_run_locally(trigger_type: str) -> str:
    return f"not run locally: needs {NEEDS_SERVICE.get(trigger_type, f'the {trigger_type} extension')}"


class TriggerManager:
    """Creates the listeners of an app (``plan``), then starts and stops them with the host."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.listeners: dict[str, TriggerListener] = {}  # function name -> listener
        self.notes: dict[str, str] = {}  # function name -> start-up listing note
        self._planned = False

    def plan(self) -> None:
        """Decide, once, what runs; a trigger that cannot run is noted and logged in one line."""
        if self._planned:
            return
        self._planned = True
        registry = self.ctx.app.registry
        for fi in registry.functions:
            if registry.is_disabled(fi):
                self.notes[fi.function_name] = "disabled"
                continue
            if fi.kind in _SERVED_ELSEWHERE:
                continue
            trigger_type = str(fi.trigger.get("type", ""))
            try:
                factory = _factory(trigger_type)
                if factory is None:
                    self.notes[fi.function_name] = not_run_locally(trigger_type)
                    continue
                self.listeners[fi.function_name] = factory(self.ctx, fi)
            except TriggerSetupError as exc:
                self.notes[fi.function_name] = f"error: {exc}"
                log.error("%s", exc)
            except Exception as exc:  # a listener that cannot even be built: one line, the rest runs
                message = f"Function '{fi.function_name}' ({trigger_type}): {type(exc).__name__}: {exc}"
                self.notes[fi.function_name] = f"error: {message}"
                log.error("%s", message)

    async def start(self) -> None:
        self.plan()
        for name, listener in list(self.listeners.items()):
            try:
                await listener.start()
            except Exception as exc:  # TriggerSetupError (one line already) or an unexpected failure
                del self.listeners[name]
                message = str(exc) if isinstance(exc, TriggerSetupError) else f"Function '{name}': {exc!r}"
                self.notes[name] = f"error: {message}"
                log.error("%s", message)
        # input/output bindings that cannot run (unknown type, storage missing or unreachable):
        # one line each, the functions still run (their invocations then fail naming the binding)
        from durable_local.bindings.checks import report_binding_problems

        await asyncio.get_running_loop().run_in_executor(None, report_binding_problems, self.ctx.app.registry)

    async def stop(self) -> None:
        for listener in self.listeners.values():
            try:
                await listener.stop()
            except Exception:
                log.exception("stopping a trigger listener failed")
        self.listeners.clear()
