"""Starts and stops the trigger listeners with the host.

Each non-HTTP trigger type that this host runs has a builder ``(ctx, fi) -> Listener | None``
registered in ``BUILDERS``; a builder that cannot start its listener (missing or unreachable
connection, bad schedule) logs one start-up line naming the function and returns None, and
the rest of the app runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from durable_local.app_loader import FunctionInfo
from durable_local.runtime.context import HostContext

log = logging.getLogger("durable_local.triggers")


class Listener(Protocol):
    function_name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


Builder = Callable[[HostContext, FunctionInfo], Awaitable["Listener | None"]]


def _builders() -> dict[str, Builder]:
    from . import blob, queue

    return {"queueTrigger": queue.build, "blobTrigger": blob.build}


class TriggerManager:
    """The listeners of one host."""

    def __init__(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.listeners: list[Listener] = []

    async def start(self) -> None:
        from durable_local.bindings.checks import report_binding_problems

        builders = _builders()
        pending = [
            builders[str(fi.trigger.get("type"))](self.ctx, fi)
            for fi in self.ctx.app.registry.functions
            if str(fi.trigger.get("type")) in builders
        ]
        built = await asyncio.gather(*pending)
        await asyncio.get_running_loop().run_in_executor(None, report_binding_problems, self.ctx.app.registry)
        for listener in built:
            if listener is not None:
                await listener.start()
                self.listeners.append(listener)

    async def stop(self) -> None:
        """Stop polling and let in-flight invocations finish."""
        listeners, self.listeners = self.listeners, []
        await asyncio.gather(*(listener.stop() for listener in listeners), return_exceptions=True)
