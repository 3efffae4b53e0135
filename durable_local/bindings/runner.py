"""``invoke_function``: run any user function with its bindings, from any trigger.

The entry point for triggers that are not HTTP (queue, blob, timer, admin invoke): prepare
the arguments (inputs read off the event loop), call the function the way the Python worker
does (async functions on the worker loop, sync ones in a thread), then write the outputs,
only when the function succeeded.
"""

from __future__ import annotations

import asyncio
import inspect
from functools import partial
from typing import Any

from durable_local.app_loader import FunctionInfo
from durable_local.runtime.context import HostContext
from durable_local.runtime.worker import run_on_worker

from .invocation import ClientEnv, finish, prepare, queue_encoding_of


def rpc_base_url(port: int) -> str:
    """The local RPC base of the durable client (loopback only)."""
    from durable_local.http.payloads import RPC_PATH

    return f"http://127.0.0.1:{port}{RPC_PATH}/"


def client_env(ctx: HostContext, origin: str | None = None, port: int | None = None) -> ClientEnv:
    """The durable client environment of this host: management URLs on ``origin`` (default
    loopback on the host's port), the RPC base always on loopback."""
    from durable_local.http.auth import durable_key

    port = ctx.port if port is None else port
    return ClientEnv(
        origin=origin or f"http://127.0.0.1:{port}",
        hub_name=ctx.hub_name,
        rpc_base_url=rpc_base_url(port),
        system_key=durable_key(ctx),
        queue_encoding=queue_encoding_of(ctx.app.settings.raw),
    )


async def call_user_function(fi: FunctionInfo, kwargs: dict[str, Any]) -> Any:
    """Async functions run on the worker loop (the SDK's shared aiohttp session lives there);
    sync ones in the default executor."""
    if fi.is_async:
        return await run_on_worker(fi.user_function, **kwargs)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(None, partial(fi.user_function, **kwargs))
    if inspect.isawaitable(result):
        result = await result
    return result


async def invoke_function(ctx: HostContext, fi: FunctionInfo, trigger_value: Any, trigger_data: dict[str, Any]) -> Any:
    """Run ``fi`` once: inputs, the call, then outputs (raises whatever the function raises,
    or BindingError naming the function and the binding)."""
    env = client_env(ctx)
    loop = asyncio.get_running_loop()
    directory = str(getattr(ctx.app, "app_dir", ""))
    inv = await loop.run_in_executor(
        None, partial(prepare, fi, trigger_value, trigger_data, env, function_directory=directory)
    )
    result = await call_user_function(fi, inv.kwargs)
    if inv.outputs:
        await loop.run_in_executor(None, partial(finish, inv, result, env.queue_encoding))
    return result
