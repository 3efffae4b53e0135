"""Opt-in key enforcement ("cloud parity" mode, RELIABILITY S4) and loopback checks.

Auth is off unless the HostContext carries a master key, a system key or function keys
(Core Tools disables authorization locally). When on:

* ``anonymous`` functions: no key;
* ``function`` functions: a function key of that function, a host key or the master key;
* ``admin`` functions and ``/admin/...``: the master key only;
* the public Durable webhook base: the ``durabletask_extension`` system key or the master key.

``ctx.function_keys`` maps key names to values. A key named ``<function>`` or
``<function>/<anything>`` is a function key of that function; every other name is a host key
(valid for every function-level route). Keys come from ``?code=`` or ``x-functions-key``.
Comparisons are constant-time (``hmac.compare_digest``) and never short-circuit over the
candidate list. Keys are never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from aiohttp import web

from durable_local.runtime.context import HostContext


def auth_enabled(ctx: HostContext) -> bool:
    return bool(ctx.master_key or ctx.system_key or ctx.function_keys)


def durable_key(ctx: HostContext) -> str | None:
    """The key embedded in management URLs (``code=``); None when auth is off."""
    if not auth_enabled(ctx):
        return None
    return ctx.system_key or ctx.master_key


def presented_key(request: web.Request) -> str | None:
    return request.query.get("code") or request.headers.get("x-functions-key") or None


def keys_match(presented: str | None, candidates: Iterable[str | None]) -> bool:
    """Constant-time membership test: compares against every candidate."""
    if not presented:
        return False
    given = presented.encode("utf-8", "surrogatepass")
    ok = False
    for cand in candidates:
        if cand:
            ok |= hmac.compare_digest(given, cand.encode("utf-8", "surrogatepass"))
    return ok


def function_key_candidates(ctx: HostContext, function_name: str) -> list[str]:
    """Host keys plus the function keys of ``function_name`` plus the master key."""
    fn = function_name.lower()
    names = {f.function_name.lower() for f in ctx.app.registry.functions}
    out: list[str] = []
    for name, value in ctx.function_keys.items():
        owner = name.split("/", 1)[0].lower()
        if owner in names and owner != fn:
            continue  # another function's key
        out.append(value)
    if ctx.master_key:
        out.append(ctx.master_key)
    return out


def normalize_level(level: object) -> str:
    text = str(getattr(level, "value", level) or "function").lower()
    return text if text in ("anonymous", "function", "admin") else "function"


def function_authorized(ctx: HostContext, request: web.Request, function_name: str, level: object) -> bool:
    if not auth_enabled(ctx):
        return True
    lvl = normalize_level(level)
    if lvl == "anonymous":
        return True
    if lvl == "admin":
        return keys_match(presented_key(request), [ctx.master_key])
    return keys_match(presented_key(request), function_key_candidates(ctx, function_name))


def admin_authorized(ctx: HostContext, request: web.Request) -> bool:
    return not auth_enabled(ctx) or keys_match(presented_key(request), [ctx.master_key])


def durable_authorized(ctx: HostContext, request: web.Request) -> bool:
    return not auth_enabled(ctx) or keys_match(presented_key(request), [ctx.system_key, ctx.master_key])


def is_loopback(request: web.Request) -> bool:
    remote = request.remote
    if not remote:
        return False
    try:
        addr = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return bool(addr.is_loopback or (mapped is not None and mapped.is_loopback))
