"""The host: load the app, open the store, serve HTTP and run the dispatchers.

``Host`` is used by the CLI (``python -m durable_local start``) and, in-process, by the
pytest fixtures in ``durable_local.testing``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from dataclasses import dataclass, replace
from pathlib import Path

from aiohttp import web

from durable_local.app_env import app_process_env
from durable_local.app_loader import LoadedApp, load_app
from durable_local.runtime import workers
from durable_local.runtime.clock import Clock
from durable_local.runtime.context import HostContext
from durable_local.runtime.dispatcher import Dispatcher
from durable_local.store import open_store
from durable_local.store.base import Store
from durable_local.triggers.manager import TriggerManager

log = logging.getLogger("durable_local.host")


@dataclass
class HostConfig:
    app_dir: Path = Path(".")
    host: str = "127.0.0.1"
    port: int = 7071
    store: str = "sqlite"  # sqlite | memory | azure
    data_dir: Path = Path(".durable")
    synchronous: str = "FULL"  # SQLite durability: FULL (default) or NORMAL
    master_key: str | None = None
    system_key: str | None = None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Host:
    """One host process: HTTP server + dispatchers over one store."""

    def __init__(
        self,
        config: HostConfig,
        *,
        clock: Clock | None = None,
        app: LoadedApp | None = None,
        store: Store | None = None,
    ) -> None:
        # The host's own paths mean what they meant where it was started; user code then runs
        # with the app's root as its working directory, as in the Python worker.
        self.config = config = replace(
            config, app_dir=Path(config.app_dir).resolve(), data_dir=Path(config.data_dir).resolve()
        )
        self.clock = clock or Clock()
        self._app_env = contextlib.ExitStack()
        self._app_env.enter_context(app_process_env(app.app_dir if app else config.app_dir))
        try:
            self.app = app or load_app(config.app_dir)
            self.store = store or self._open_store()
        except BaseException:
            self._app_env.close()
            raise
        self.ctx = HostContext(
            app=self.app,
            store=self.store,
            clock=self.clock,
            master_key=config.master_key,
            system_key=config.system_key,
        )
        count = workers.process_count()  # FUNCTIONS_WORKER_PROCESS_COUNT (local.settings.json or env)
        pool = workers.WorkerProcesses(self.app.app_dir, count, self.app.settings.default_version) if count else None
        self.dispatcher = Dispatcher(self.ctx, workers=pool)
        self.ctx.notify = self.dispatcher.notify
        self.triggers = TriggerManager(self.ctx)  # timers (and other non-HTTP triggers)
        self.triggers.plan()  # a bad trigger is logged now, before the listing
        self._runner: web.AppRunner | None = None
        self.port = config.port

    def _open_store(self) -> Store:
        opts: dict[str, object] = {}
        opts["clock"] = self.clock.now  # delays (abandon back-off) follow the virtual clock in tests
        if self.config.store == "sqlite":
            opts["synchronous"] = self.config.synchronous
        if self.config.store == "azure":
            opts["hub_name"] = self.app.settings.hub_name
        return open_store(self.config.store, Path(self.config.data_dir), **opts)

    @property
    def base_url(self) -> str:
        host = self.config.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{shown}:{self.port}"

    async def start(self) -> None:
        from durable_local.http.server import ACCESS_LOGGER, RedactingAccessLogger, build_app

        if self.port == 0:
            self.port = free_port(self.config.host)
        self.ctx.port = self.port
        web_app = build_app(self.ctx, port_getter=lambda: self.port)
        self._runner = web.AppRunner(
            web_app,
            access_log=logging.getLogger(ACCESS_LOGGER),
            access_log_class=RedactingAccessLogger,
            handle_signals=False,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.port, reuse_address=True)
        await site.start()
        self.dispatcher.start()
        await self.dispatcher.ready()
        await self.triggers.start()
        log.info("durable_local host listening on %s (store=%s)", self.base_url, self.config.store)

    async def stop(self) -> None:
        await self.triggers.stop()  # no new firings while in-flight work finishes
        await self.dispatcher.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.store.close()
        self._app_env.close()

    def route_lines(self) -> list[str]:
        from durable_local.http.server import format_routes

        return format_routes(self.ctx, self.base_url, self.triggers.notes)
