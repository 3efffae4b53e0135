"""A loopback TCP proxy that injects network faults between a client and a server (asyncio,
on a thread of its own so the faults do not depend on the test's event loop).

Per request (the first bytes a client sends after the previous response started), with seeded
rates, the proxy

* ``reset``: aborts the client connection with an RST before forwarding (nothing reached the
  server);
* ``stall``: forwards the request, then holds the response for ``stall_seconds`` (past the
  client's read timeout) before closing without it (the server did the work);
* ``drop``: forwards the request, waits for the start of the response, then aborts the client
  connection without it (the server did the work, the reply is lost).

``heal()`` stops injecting; connections keep being proxied. ``force(fate)`` gives the next
request that fate, even while healed (for tests of one fault). Counts are in ``injected``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter

FATES = ("reset", "stall", "drop")


class FaultyProxy:
    """Proxy ``127.0.0.1:<port>`` -> ``127.0.0.1:<target_port>`` for each target port."""

    def __init__(
        self,
        target_ports: list[int],
        seed: int,
        *,
        rates: dict[str, float] | None = None,
        stall_seconds: float = 4.0,
    ) -> None:
        self.target_ports = target_ports
        self.rates = dict(rates or {"reset": 0.02, "stall": 0.01, "drop": 0.02})
        self.stall_seconds = stall_seconds
        self.enabled = False
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self.ports: dict[int, int] = {}  # target port -> our port
        self._forced: list[str] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faulty-proxy", daemon=True)
        self._servers: list[asyncio.AbstractServer] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FaultyProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    async def _listen(self) -> None:
        for target in self.target_ports:
            server = await asyncio.start_server(
                lambda r, w, t=target: self._serve(r, w, t), "127.0.0.1", 0
            )
            self._servers.append(server)
            self.ports[target] = server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def heal(self) -> None:
        self.enabled = False

    def break_(self) -> None:
        self.enabled = True

    def force(self, fate: str) -> None:
        assert fate in ("ok", *FATES), fate
        with self._lock:
            self._forced.append(fate)

    # -- proxying ------------------------------------------------------------------------------
    def _fate(self) -> str:
        with self._lock:
            self.requests += 1
            if self._forced:
                fate = self._forced.pop(0)
                if fate != "ok":
                    self.injected[fate] += 1
                return fate
            if not self.enabled:
                return "ok"
            r = self._rng.random()
        edge = 0.0
        for fate in FATES:
            edge += self.rates.get(fate, 0.0)
            if r < edge:
                with self._lock:
                    self.injected[fate] += 1
                return fate
        return "ok"

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, target: int) -> None:
        # ends normally when stop() cancels it: asyncio logs a traceback for a cancelled
        # connection callback (Python 3.11)
        with contextlib.suppress(asyncio.CancelledError):
            await self._proxy(client_r, client_w, target)

    async def _proxy(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, target: int) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            _abort(client_w)
            return
        # one request at a time (HTTP/1.1 without pipelining): the fate of a request is drawn
        # at its first bytes; "responding" flips when its response starts
        state = {"fate": "ok", "responding": True}
        upstream = asyncio.ensure_future(self._upstream(client_r, server_w, client_w, state))
        try:
            await self._downstream(server_r, client_w, state)
        finally:
            upstream.cancel()
            with contextlib.suppress(BaseException):
                await upstream
            _abort(server_w)
            _abort(client_w)

    async def _upstream(
        self, client_r: asyncio.StreamReader, server_w: asyncio.StreamWriter, client_w: asyncio.StreamWriter,
        state: dict[str, object],
    ) -> None:  # fmt: skip
        while data := await client_r.read(65536):
            if state["responding"]:  # the first bytes of a new request
                state["responding"] = False
                state["fate"] = self._fate()
                if state["fate"] == "reset":
                    _abort(client_w)
                    _abort(server_w)
                    return
            server_w.write(data)
            await server_w.drain()
        _abort(server_w)

    async def _downstream(
        self, server_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, state: dict[str, object]
    ) -> None:
        while data := await server_r.read(65536):
            if not state["responding"]:  # the first bytes of this request's response
                state["responding"] = True
                if state["fate"] == "drop":
                    return  # the caller aborts both connections
                if state["fate"] == "stall":
                    await asyncio.sleep(self.stall_seconds)
                    return
            client_w.write(data)
            await client_w.drain()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed peer or a middlebox reset would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()
