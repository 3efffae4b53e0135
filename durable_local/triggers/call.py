"""Calling a non-HTTP function once (a timer firing, an admin invoke), as the worker does.

Arguments go by binding name: the trigger parameter gets ``trigger_value``, a
``durableClient`` input the client binding JSON (its URLs point at this host), ``context`` a
``func.Context``. Sync functions run in the default executor, async ones on the worker loop
(:func:`durable_local.http.triggers.call_function`). Other bindings are not resolved here:
inputs get None and outputs a placeholder whose value is discarded (with a warning).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from durable_local.app_loader import FunctionInfo
from durable_local.http.auth import durable_key
from durable_local.http.payloads import RPC_PATH, client_binding
from durable_local.http.triggers import FunctionContext, OutValue, accepts_context, call_function
from durable_local.runtime.context import HostContext

log = logging.getLogger("durable_local.triggers")

_OUT_DIRECTION = (1, "OUT", "out")


def client_binding_for(ctx: HostContext, binding: dict[str, Any]) -> str:
    """The ``durableClient`` value for a function not called through HTTP."""
    data = client_binding(
        ctx.base_url,
        ctx.hub_name,
        f"{ctx.base_url}{RPC_PATH}/",
        task_hub=binding.get("taskHub") or None,
        connection_name=binding.get("connectionName") or None,
        system_key=durable_key(ctx),
    )
    return json.dumps(data)


async def invoke_function(ctx: HostContext, fi: FunctionInfo, trigger_value: Any, trigger_data: dict[str, Any]) -> Any:
    """Run ``fi`` once with ``trigger_value`` for its trigger parameter; raises what it raises.
    (``trigger_data`` is the binding data of the trigger; no binding here uses it yet.)"""
    kwargs: dict[str, Any] = {}
    for b in fi.bindings:
        name = b.get("name")
        if not name or name == "$return":
            continue
        if name == fi.trigger_param:
            kwargs[name] = trigger_value
        elif b.get("type") == "durableClient":
            kwargs[name] = client_binding_for(ctx, b)
        elif b.get("direction") in _OUT_DIRECTION:
            log.warning(
                "function %s: output binding '%s' (%s) is not supported here", fi.function_name, name, b["type"]
            )
            kwargs[name] = OutValue()
        else:
            log.warning("function %s: input binding '%s' (%s) is not supported here", fi.function_name, name, b["type"])
            kwargs[name] = None
    if "context" not in kwargs and accepts_context(fi):
        kwargs["context"] = FunctionContext(fi.function_name, str(ctx.app.app_dir))
    return await call_function(fi, kwargs)
