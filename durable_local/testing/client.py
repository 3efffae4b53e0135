"""The ``durable_host`` fixture's client: an in-process host on a background thread.

:class:`DurableHostClient` starts :func:`durable_local.testing.running_host` on an event loop
of its own thread, so a plain ``def test_...`` drives it with ordinary blocking calls, and an
``async def`` test can do the same or await the identical operations through ``client.aio``
(they run on the host's loop; the test's loop only waits for them)::

    with DurableHostClient("path/to/app") as host:
        instance_id = host.start("hello_orchestrator", {"city": "Oslo"})
        host.clock.advance(hours=72)          # durable timers due by then fire now
        assert host.wait_for(instance_id)["runtimeStatus"] == "Completed"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from durable_local.runtime.clock import VirtualClock
from durable_local.store.base import TERMINAL_STATES

from . import WEBHOOK, HostHarness, running_host

T = TypeVar("T")

# Generous: the first start of a host imports the app and the SDK.
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Response:
    """An HTTP response read in full: status, JSON (or text) body, headers."""

    status: int
    body: Any
    headers: Mapping[str, str]


class HostClock:
    """The host's virtual clock: durable time (timers, timestamps) moves only when told to."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        """Current durable time (UTC)."""
        return self._clock.now()

    def advance(self, delta: timedelta | None = None, **kw: float) -> datetime:
        """Jump forward, e.g. ``advance(hours=72)``; timers due by then fire right away."""
        return self._clock.advance(delta if delta is not None else timedelta(**kw))


def _quote(segment: str) -> str:
    return quote(segment, safe="")


class HostOperations:
    """The client's operations as coroutines; they must run on the host's event loop."""

    def __init__(self, harness: HostHarness) -> None:
        self.harness = harness

    async def request(self, method: str, path: str, **kw: Any) -> Response:
        """Any HTTP request to the host; ``path`` starts with ``/`` (e.g. ``/api/orders``)."""
        status, body, headers = await self.harness.request(method, path, **kw)
        return Response(status, body, dict(headers))

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Response:
        return await self.request("POST", path, **kw)

    async def start(self, name: str, input: Any = None, *, instance_id: str | None = None) -> str:
        """Start orchestrator ``name`` through the Durable HTTP API; returns the instance id."""
        path = f"{WEBHOOK}/orchestrators/{_quote(name)}" + (f"/{_quote(instance_id)}" if instance_id else "")
        # The API reads a JSON string body as the already-serialized input (what the SDK sends).
        r = await self.request("POST", path, json=None if input is None else json.dumps(input))
        return _started_id(r, f"POST {path}")

    async def start_http(self, path: str, *, method: str = "POST", **kw: Any) -> str:
        """Start through one of the app's own HTTP routes that answers with the check-status
        payload (``client.create_check_status_response``); returns the instance id."""
        r = await self.request(method, path, **kw)
        return _started_id(r, f"{method} {path}")

    async def status(self, instance_id: str, *, history: bool = False) -> dict[str, Any] | None:
        """The instance's status (with ``historyEvents`` when ``history``); None if unknown."""
        params = {"showHistory": "true", "showHistoryOutput": "true"} if history else {}
        return await self.harness.status(instance_id, **params)

    async def wait_for(
        self, instance_id: str, statuses: str | Iterable[str] = TERMINAL_STATES, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Wait (bounded) until the instance's runtimeStatus is one of ``statuses`` (default: any
        terminal status); returns its status. Raises AssertionError naming the last status."""
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        return await self.harness.wait_for(instance_id, wanted, timeout=timeout)

    async def raise_event(self, instance_id: str, event: str, data: Any = None) -> None:
        """Raise external event ``event`` with ``data`` (JSON) on a running instance."""
        path = f"{WEBHOOK}/instances/{_quote(instance_id)}/raiseEvent/{_quote(event)}"
        # always a JSON body (`null` without data): the API takes only application/json
        r = await self.request("POST", path, data=json.dumps(data), headers={"Content-Type": "application/json"})
        if r.status != 202:
            raise AssertionError(f"raising {event!r} on {instance_id!r} answered {r.status}: {r.body}")

    async def entity(self, name: str, key: str) -> Any:
        """An entity's state (decoded JSON), or None when the entity does not exist."""
        r = await self.request("GET", f"{WEBHOOK}/entities/{_quote(name)}/{_quote(key)}")
        if r.status == 404:
            return None
        if r.status != 200:
            raise AssertionError(f"reading entity @{name}@{key} answered {r.status}: {r.body}")
        return r.body

    async def history(self, instance_id: str) -> list[dict[str, Any]]:
        """The instance's history events, oldest first, as the Durable HTTP API shows them."""
        status = await self.status(instance_id, history=True)
        if status is None:
            raise AssertionError(f"no instance {instance_id!r}")
        return list(status.get("historyEvents") or [])

    async def wait_for_history(self, instance_id: str, event_type: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait (bounded) until the instance's history holds an event of ``event_type`` (e.g.
        ``TimerCreated``: advance the clock only once the timer exists); returns that event."""

        async def found() -> dict[str, Any] | None:
            status = await self.status(instance_id, history=True)
            events = (status or {}).get("historyEvents") or []
            return next((e for e in events if e.get("EventType") == event_type), None)

        return await self.harness.wait_until(found, timeout, what=f"a {event_type} event in {instance_id}")


def _started_id(r: Response, what: str) -> str:
    if r.status not in (200, 201, 202) or not isinstance(r.body, dict) or "id" not in r.body:
        raise AssertionError(f"{what} did not start an orchestration: {r.status} {r.body}")
    return str(r.body["id"])


class _AwaitableOperations:
    """``client.aio``: each operation of :class:`HostOperations`, awaitable from any loop."""

    def __init__(self, client: DurableHostClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        op = getattr(self._client.operations, name)

        def call(*args: Any, **kw: Any) -> Awaitable[Any]:
            return asyncio.wrap_future(self._client.submit(op(*args, **kw)))

        return call


class DurableHostClient:
    """A host serving ``app_dir`` on a free loopback port, run on a background thread.

    ``store`` is ``memory`` (default), ``sqlite`` (a file in ``data_dir``) or ``azure``. Use it as
    a context manager; the ``durable_host`` pytest fixture does that for each test."""

    def __init__(self, app_dir: Path | str, *, store: str = "memory", data_dir: Path | str | None = None) -> None:
        self.app_dir = Path(app_dir)
        self.store_kind = store
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._virtual_clock = VirtualClock()
        self.clock = HostClock(self._virtual_clock)
        self.aio = _AwaitableOperations(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._ops: HostOperations | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> DurableHostClient:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="durable-host", daemon=True)
        self._thread.start()
        try:
            self._ops = HostOperations(self.submit(self._open()).result(START_TIMEOUT))
        except BaseException:
            self._close_loop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._exit_stack is not None:
                self.submit(self._exit_stack.aclose()).result(START_TIMEOUT)
        finally:
            self._close_loop()

    def restart(self) -> None:
        """Stop the host and start a new one on the same store and clock, as a deploy or a
        scale-in does: running orchestrations carry on from their stored history.

        Needs a store that outlives a host: ``sqlite`` (the test's data folder) or ``azure``."""
        if self.store_kind == "memory":
            raise ValueError("restart() needs a store that outlives the host: use store='sqlite' (or 'azure')")
        if self._exit_stack is None:
            raise RuntimeError("the host is not running (use DurableHostClient as a context manager)")
        stack, self._exit_stack, self._ops = self._exit_stack, None, None
        self.submit(stack.aclose()).result(START_TIMEOUT)
        self._ops = HostOperations(self.submit(self._open()).result(START_TIMEOUT))

    async def _open(self) -> HostHarness:
        stack = contextlib.AsyncExitStack()
        harness = await stack.enter_async_context(
            running_host(self.app_dir, store=self.store_kind, data_dir=self.data_dir, clock=self._virtual_clock)
        )
        self._exit_stack = stack
        return harness

    def _close_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        loop.close()
        self._loop = self._thread = None

    def submit(self, coro: Coroutine[Any, Any, T]) -> Any:
        """Schedule a coroutine on the host's loop; returns a concurrent.futures.Future."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the host is not running (use DurableHostClient as a context manager)")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        __tracebackhide__ = True  # a failing wait reads as the test's line, not this plumbing
        return self.submit(coro).result()

    @property
    def operations(self) -> HostOperations:
        if self._ops is None:
            raise RuntimeError("the host is not running (use DurableHostClient as a context manager)")
        return self._ops

    # -- the host --------------------------------------------------------------------------------
    @property
    def harness(self) -> HostHarness:
        """The underlying async harness (its coroutines run only on the host's loop)."""
        return self.operations.harness

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running host."""
        return self.harness.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- operations (blocking) -------------------------------------------------------------------
    def request(self, method: str, path: str, **kw: Any) -> Response:
        """Any HTTP request (aiohttp keywords: ``json=``, ``params=``, ``headers=``, ``data=``)."""
        return self._call(self.operations.request(method, path, **kw))

    def get(self, path: str, **kw: Any) -> Response:
        return self._call(self.operations.get(path, **kw))

    def post(self, path: str, **kw: Any) -> Response:
        return self._call(self.operations.post(path, **kw))

    def start(self, name: str, input: Any = None, *, instance_id: str | None = None) -> str:
        """Start orchestrator ``name`` by name; returns the instance id."""
        return self._call(self.operations.start(name, input, instance_id=instance_id))

    def start_http(self, path: str, *, method: str = "POST", **kw: Any) -> str:
        """Start through an app route answering with the check-status payload; returns the id."""
        return self._call(self.operations.start_http(path, method=method, **kw))

    def status(self, instance_id: str, *, history: bool = False) -> dict[str, Any] | None:
        return self._call(self.operations.status(instance_id, history=history))

    def wait_for(
        self, instance_id: str, statuses: str | Iterable[str] = TERMINAL_STATES, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Block until the instance reaches one of ``statuses`` (default: terminal); its status."""
        return self._call(self.operations.wait_for(instance_id, statuses, timeout))

    def raise_event(self, instance_id: str, event: str, data: Any = None) -> None:
        self._call(self.operations.raise_event(instance_id, event, data))

    def entity(self, name: str, key: str) -> Any:
        """An entity's state, or None when it does not exist."""
        return self._call(self.operations.entity(name, key))

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        return self._call(self.operations.history(instance_id))

    def wait_for_history(self, instance_id: str, event_type: str, timeout: float = 30.0) -> dict[str, Any]:
        """Block until the history holds an ``event_type`` event (e.g. ``TimerCreated``); the event."""
        return self._call(self.operations.wait_for_history(instance_id, event_type, timeout))

    def export_history(self, instance_id: str, path: Path | str) -> Path:
        """Write the instance's metadata and history as a history file (what ``durable-local
        export`` writes): a fixture that ``durable-local replay`` re-runs against later code."""
        from durable_local.tools.history_file import export_instance, write_history_file

        # store reads are thread-safe: the host itself runs them on executor threads
        write_history_file(export_instance(self.harness.store, instance_id), Path(path))
        return Path(path)

    def wait_until(self, predicate: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
        """Bounded 'eventually': call ``predicate`` (it may use this client) until it returns
        something truthy, and return that. Raises AssertionError naming ``what`` on timeout."""
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.02)
