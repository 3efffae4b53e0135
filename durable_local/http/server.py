"""The aiohttp application of the host: app HTTP triggers, the Durable API, host endpoints.

``build_app(ctx, port_getter=...)`` returns an ``aiohttp.web.Application`` with one catch-all
route that dispatches, in order:

1. ``/runtime/webhooks/durabletask/...`` – public Durable API (system/master key when keys are on);
2. ``/durabletask/...`` – the local RPC base of ``rpcBaseUrl`` (no key, loopback clients only);
3. ``/admin/...`` – ``GET /admin/host/status`` and ``POST /admin/functions/{name}`` (run a
   non-HTTP function on demand, durable_local/triggers/admin.py); master key when keys are on;
4. ``/{routePrefix}/{route}`` – the app's HTTP triggers (``routePrefix`` may be empty);
5. ``GET /`` – a plain "up and running" page, like Core Tools.

Nothing here logs keys or query strings: logged URLs are paths only. The host passes
:class:`RedactingAccessLogger` to ``AppRunner(access_log_class=...)``: one DEBUG line per request
(method, path, status, time) on ``durable_local.http.access``, free when DEBUG is off.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from urllib.parse import unquote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from durable_local.app_loader import FunctionInfo
from durable_local.runtime.context import HostContext
from durable_local.triggers import admin as admin_functions

from . import durable_api, starter
from .auth import admin_authorized, durable_authorized, function_authorized, is_loopback
from .payloads import RPC_PATH, WEBHOOK_PATH, http_error
from .routes import ALL_METHODS, Route, Router, RouteTemplate, RouteTemplateError, normalize_methods
from .triggers import invoke_http_function

log = logging.getLogger("durable_local.http")

CLIENT_MAX_SIZE = 100 * 1024 * 1024  # the app enforces its own, smaller limits
ROOT_TEXT = "Your Functions 4.0 app is up and running (durable_local)\n"


ACCESS_LOGGER = "durable_local.http.access"


class RedactingAccessLogger(AbstractAccessLogger):
    """DEBUG access log lines without query strings (which may carry ``code=`` keys)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug("%s %s %s %.1fms", request.method, request.path, response.status, time * 1000)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)


def _unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text=json.dumps(http_error("Unauthorized", "A valid key is required.", "System.UnauthorizedAccessException")),
        content_type="application/json",
    )


def function_route_template(fi: FunctionInfo) -> str:
    """The trigger's ``route`` or, by default, the function name."""
    route = fi.trigger.get("route")
    return str(route) if route else fi.function_name


def build_router(ctx: HostContext) -> Router:
    """Routes of the app's HTTP triggers; a malformed template disables only that function."""
    router = Router()
    seen: dict[tuple[str, frozenset[str]], str] = {}
    for fi in ctx.app.registry.http:
        if ctx.app.registry.is_disabled(fi):
            continue  # AzureWebJobs.<name>.Disabled: not served (404)
        text = function_route_template(fi)
        try:
            template = RouteTemplate.parse(text)
        except RouteTemplateError as exc:
            log.error(
                "function %s: route '%s' is invalid and the function is not served: %s", fi.function_name, text, exc
            )
            continue
        methods = normalize_methods(fi.trigger.get("methods"))
        key = (template.text.lower(), methods)
        if key in seen:
            log.warning(
                "function %s: route '%s' duplicates function %s; the first one wins", fi.function_name, text, seen[key]
            )
        seen.setdefault(key, fi.function_name)
        router.add(Route(template, methods, fi))
    return router


def _strip_base(raw_path: str, base: str) -> str | None:
    """The remainder of ``raw_path`` below ``base`` (case-insensitive), or None."""
    low = raw_path.lower()
    if low == base or low.startswith(base + "/"):
        return raw_path[len(base) :]
    return None


def build_app(ctx: HostContext, *, port_getter: Callable[[], int]) -> web.Application:
    """The host's aiohttp application; ``port_getter()`` gives the listening port (for the
    ``rpcBaseUrl`` in client bindings, read per request so port 0 works)."""
    router = build_router(ctx)
    prefix = "/" + ctx.route_prefix.strip("/") if ctx.route_prefix.strip("/") else ""
    started = time.monotonic()

    async def admin(request: web.Request, rest: str) -> web.StreamResponse:
        if not admin_authorized(ctx, request):
            return _unauthorized()
        if rest.strip("/").lower() == "host/status" and request.method in ("GET", "HEAD"):
            body = {
                "id": ctx.hub_name.lower(),
                "state": "Running",
                "version": "4.0.0-durable_local",
                "processUptime": int((time.monotonic() - started) * 1000),
            }
            return web.json_response(body)
        parts = rest.strip("/").split("/")
        if len(parts) == 2 and parts[0].lower() == "functions" and request.method == "POST":
            return await admin_functions.invoke(ctx, request, unquote(parts[1]))  # run a non-HTTP function
        return web.Response(status=404)

    async def app_function(request: web.Request, rest: str) -> web.StreamResponse | None:
        found = router.resolve(rest, request.method)
        if found is None:
            return None
        route, values = found
        fi: FunctionInfo = route.target
        if not function_authorized(ctx, request, fi.function_name, fi.trigger.get("authLevel")):
            return _unauthorized()
        log.info("Executing 'Functions.%s' (%s %s)", fi.function_name, request.method, request.path)
        return await invoke_http_function(ctx, fi, request, values, port_getter())

    async def dispatch(request: web.Request) -> web.StreamResponse:
        raw = request.rel_url.raw_path
        rest = _strip_base(raw, WEBHOOK_PATH)
        if rest is not None:
            if not durable_authorized(ctx, request):
                return _unauthorized()
            return await durable_api.handle(request, ctx, rest)
        rest = _strip_base(raw, RPC_PATH)
        if rest is not None:
            if not is_loopback(request):
                return web.Response(
                    status=403,
                    text=json.dumps(
                        http_error(
                            "Forbidden",
                            "The local RPC endpoint only accepts loopback clients.",
                            "System.UnauthorizedAccessException",
                        )
                    ),
                    content_type="application/json",
                )
            return await durable_api.handle(request, ctx, rest)
        rest = _strip_base(raw, "/admin")
        if rest is not None:
            return await admin(request, rest)
        rest = _strip_base(raw, prefix) if prefix else raw
        if rest is not None:
            response = await app_function(request, rest)
            if response is not None:
                return response
        if raw in ("", "/") and request.method in ("GET", "HEAD"):
            return web.Response(text=ROOT_TEXT, content_type="text/plain")
        return web.Response(status=404)

    app = web.Application(client_max_size=CLIENT_MAX_SIZE)
    admin_functions.install(app)  # POST /admin/functions/{name} runs in the background
    starter.install(app, ctx)  # durable starts: commits on dedicated threads (group commit)
    from durable_local.dashboard import add_dashboard_routes

    add_dashboard_routes(app, ctx)  # before the catch-all: /_durable/ (aiohttp < 3.10 matches in order)
    # [\s\S]: a decoded %0A in a path segment must reach the handlers (400 for a bad instance
    # id, S3), not fall through aiohttp's router as 404 ('.' does not match a newline)
    app.router.add_route("*", "/{tail:[\\s\\S]*}", dispatch)
    return app


def format_routes(ctx: HostContext, base_url: str, notes: Mapping[str, str] | None = None) -> list[str]:
    """Lines like Core Tools prints at start-up, one per function, e.g.
    ``"        starter: [POST] http://127.0.0.1:7071/api/orchestrators/{functionName}"``;
    ``notes`` (function name -> text, from the trigger manager) are appended in parentheses,
    e.g. ``"        nightly: timerTrigger (disabled)"``."""
    notes = notes or {}

    def noted(fi: FunctionInfo, line: str) -> str:
        note = notes.get(fi.function_name)
        return f"{line} ({note})" if note else line

    base = base_url.rstrip("/")
    prefix = ctx.route_prefix.strip("/")
    lines: list[str] = []
    for fi in ctx.app.registry.functions:
        if fi.kind != "http":
            continue
        methods = normalize_methods(fi.trigger.get("methods"))
        shown = ",".join(m for m in ALL_METHODS if m in methods)
        route = function_route_template(fi).strip("/")
        url = "/".join(p for p in (base, prefix, route) if p)
        lines.append(noted(fi, f"        {fi.function_name}: [{shown}] {url}"))
    for fi in ctx.app.registry.functions:
        if fi.kind != "http":
            lines.append(noted(fi, f"        {fi.function_name}: {fi.trigger.get('type')}"))
    return lines
