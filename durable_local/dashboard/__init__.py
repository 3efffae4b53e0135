"""The host's web dashboard, served at ``/_durable/``.

A static single-page app (``static/``: plain HTML, CSS and JavaScript, no build step, nothing
loaded from another origin) that reads and acts through the public Durable HTTP API under
``/runtime/webhooks/durabletask/`` on the same origin, so every button does exactly what a
management URL would do.

Mount it on the host's aiohttp application with :func:`add_dashboard_routes` (register it
before any catch-all route when running on aiohttp < 3.10, which resolves routes in order).

One read-only endpoint of its own: ``GET /_durable/api/links/{instanceId}`` answers
``{"parent": id | null, "children": [id, ...]}`` from the store, since the status API (as the
extension's) does not show which orchestration started a sub-orchestration.

Keys: when the host enforces keys, the page itself (``/_durable/``) is served only with the
master key (``?code=`` or ``x-functions-key``); the page's script then sends that key as the
``x-functions-key`` header on each API call. The static assets hold no secrets and are
served without a key.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from durable_local.engine.events import EventType
from durable_local.http.auth import admin_authorized
from durable_local.runtime.context import HostContext

__all__ = ["BASE_PATH", "STATIC_DIR", "add_dashboard_routes"]

BASE_PATH = "/_durable"
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: the files served from ``static/`` (anything else is a 404) and their content types
ASSETS: dict[str, str] = {
    "index.html": "text/html",
    "app.css": "text/css",
    "api.js": "text/javascript",
    "timeline.js": "text/javascript",
    "views.js": "text/javascript",
    "instance.js": "text/javascript",
    "app.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _asset(name: str, *, cache: str) -> web.Response:
    """One file of ``static/`` with its content type and the security headers."""
    body = (STATIC_DIR / name).read_bytes()
    headers = {**SECURITY_HEADERS, "Cache-Control": cache}
    return web.Response(body=body, content_type=ASSETS[name], charset="utf-8", headers=headers)


def _unauthorized() -> web.Response:
    text = "The dashboard needs the host's master key: open /_durable/?code=<master key>.\n"
    return web.Response(status=401, text=text, content_type="text/plain", headers=SECURITY_HEADERS)


def instance_links(ctx: HostContext, instance_id: str) -> dict[str, Any]:
    """The instance's parent orchestration and the sub-orchestrations it started (blocking)."""
    record = ctx.store.get_instance(instance_id)
    if record is None:
        return {"parent": None, "children": []}
    children = [
        str(e["InstanceId"])
        for e in ctx.store.get_history(instance_id)
        if e.get("EventType") == EventType.SubOrchestrationInstanceCreated and e.get("InstanceId")
    ]
    return {"parent": record.parent_instance_id or None, "children": list(dict.fromkeys(children))}


def add_dashboard_routes(app: web.Application, ctx: HostContext) -> None:
    """Register ``GET /_durable``, ``GET /_durable/``, ``GET /_durable/static/{name}`` and
    ``GET /_durable/api/links/{instanceId}``."""

    async def redirect(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query_string
        raise web.HTTPFound(f"{BASE_PATH}/" + (f"?{query}" if query else ""))

    async def index(request: web.Request) -> web.StreamResponse:
        if not admin_authorized(ctx, request):
            return _unauthorized()
        return _asset("index.html", cache="no-store")

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ASSETS or name == "index.html":
            return web.Response(status=404, headers=SECURITY_HEADERS)
        return _asset(name, cache="no-cache")

    async def links(request: web.Request) -> web.StreamResponse:
        if not admin_authorized(ctx, request):
            return _unauthorized()
        body = await asyncio.get_running_loop().run_in_executor(
            None, instance_links, ctx, request.match_info["instance_id"]
        )
        return web.json_response(body, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})

    app.router.add_get(BASE_PATH, redirect)
    app.router.add_get(BASE_PATH + "/api/links/{instance_id}", links)
    app.router.add_get(f"{BASE_PATH}/", index)
    app.router.add_get(BASE_PATH + "/static/{name}", static)
