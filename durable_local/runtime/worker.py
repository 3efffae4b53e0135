"""The "language worker": one long-lived event loop thread for the app's async functions.

The real Python worker runs user code on its own event loop in its own process. Keeping a
separate, process-wide loop here does the same job: the SDK's module-global aiohttp session
stays bound to one loop for the life of the process (test hosts come and go), and user code
that blocks its loop cannot stall the host's HTTP server or dispatchers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def worker_loop() -> asyncio.AbstractEventLoop:
    """The worker's loop, started on first use (a daemon thread: it dies with the process)."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="durable-worker-loop", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


async def run_on_worker(fn: Callable[..., Coroutine[Any, Any, Any]], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``await fn(*args, **kwargs)`` on the worker loop and await its result here."""
    future = asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), worker_loop())
    return await asyncio.wrap_future(future)


async def _close_sdk_session() -> None:
    # The SDK keeps one module-global aiohttp session for client calls; close it on the
    # loop that owns it, or the interpreter reports it unclosed at exit.
    import sys

    http_utils = sys.modules.get("azure.durable_functions.models.utils.http_utils")
    if http_utils is not None:
        await http_utils._close_session()


def shutdown_worker(timeout: float = 5.0) -> None:
    """Close the SDK's client session and stop the worker loop (process exit only)."""
    global _loop
    with _lock:
        loop, _loop = _loop, None
    if loop is None or loop.is_closed():
        return
    try:
        asyncio.run_coroutine_threadsafe(_close_sdk_session(), loop).result(timeout)
    except Exception:  # best effort: the process is exiting anyway
        pass
    loop.call_soon_threadsafe(loop.stop)
