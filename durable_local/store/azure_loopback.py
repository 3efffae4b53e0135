"""Azure backend: plain HTTP/1.1 to a loopback endpoint (Azurite) on ``http.client``.

Against Azurite the host process is CPU-bound on its storage calls (W13 in
docs/BENCHMARKS.md): a call costs ~2.8 ms of Python CPU, of which ~0.8 ms is ``requests``
and ``urllib3`` wrapping a ``http.client`` exchange that itself costs ~0.3 ms. For ``http://``
loopback endpoints, ``LoopbackConnections`` does that exchange directly on keep-alive
connections and hands back the ``requests.Response`` that azure-core's RequestsTransport
expects (body read in full), so the SDK's pipeline (signing, retries, timeouts, error
mapping) is unchanged. Failures are raised as the ``requests`` exceptions urllib3 would have
produced, which RequestsTransport maps to the same azure-core errors:

- connecting fails: ``ConnectionError`` (``ServiceRequestError``: the request was not sent);
  connecting times out: ``ConnectTimeout``;
- the reply does not come within the read timeout: ``ReadTimeout``;
- the connection breaks after the request went out (reset, closed, torn reply):
  ``ConnectionError`` wrapping urllib3's ``ProtocolError`` (``ServiceResponseError``).

A connection is reused only after its reply was read in full and the server did not ask to
close it; a pooled connection that the server closed meanwhile (Azurite drops idle ones) is
noticed before it is used, as urllib3 does, and replaced.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.exceptions import ProtocolError

Timeout = float | tuple[float | None, float | None] | None


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """The server closed the idle connection (readable with nothing to read means EOF)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class LoopbackConnections:
    """Keep-alive ``http.client`` connections to loopback endpoints, one per request in flight."""

    def __init__(self, maxsize: int) -> None:
        self._idle: dict[tuple[str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def _take(self, host: str, port: int, connect_timeout: float | None) -> http.client.HTTPConnection:
        with self._lock:
            idle = self._idle.get((host, port))
            while idle:
                conn = idle.pop()
                if not _dropped(conn):
                    return conn
                conn.close()
        conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        try:
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as urllib3 does
        except TimeoutError as exc:
            raise requests.exceptions.ConnectTimeout(exc) from exc
        except OSError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        return conn

    def _give_back(self, host: str, port: int, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault((host, port), [])
            if len(idle) < self._maxsize:
                idle.append(conn)
                return
        conn.close()

    def request(
        self, method: str, url: str, headers: Any, body: bytes | str | None, timeout: Timeout
    ) -> requests.Response:
        """One exchange on ``http://`` ``url``; the reply's body is read in full before this
        returns. A text body is sent as UTF-8 (as urllib3 does; http.client would use Latin-1)."""
        connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn = self._take(host, port, connect_timeout)
        try:
            assert conn.sock is not None
            conn.sock.settimeout(read_timeout)
            data = body.encode() if isinstance(body, str) else body
            conn.request(method, target, body=data, headers=dict(headers or {}))
            reply = conn.getresponse()
            content = reply.read()
        except TimeoutError as exc:
            conn.close()
            raise requests.exceptions.ReadTimeout(exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", exc)) from exc
        if reply.will_close:
            conn.close()
        else:
            self._give_back(host, port, conn)
        return _response(url, reply, content)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _response(url: str, reply: http.client.HTTPResponse, content: bytes) -> requests.Response:
    """The ``requests.Response`` an adapter would have built, its body already consumed."""
    r = requests.Response()
    r.status_code = reply.status
    r.reason = reply.reason
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for name, value in reply.getheaders():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    r.headers = headers
    r.encoding = get_encoding_from_headers(headers)
    r.url = url
    r._content = content
    r._content_consumed = True
    r.raw = reply  # RequestsTransport sets an attribute on it; nothing is read from it any more
    return r

