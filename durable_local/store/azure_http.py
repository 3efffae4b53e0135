"""Azure backend: HTTP plumbing that the SDK makes expensive.

Every storage call costs ~3 ms of Python CPU in the SDK's pipeline, and the host process is
CPU-bound long before Azurite is (W13 in docs/BENCHMARKS.md), so the hot paths are trimmed here:

- ``http_session``: one ``requests`` session per service client with a connection pool as
  large as the host's thread count (the default of 10 discards and re-opens connections
  under the dispatcher's 30+ threads) and, for loopback endpoints (Azurite), no environment
  lookups (proxy variables, .netrc) on every request.
- ``submit_transaction``: the table SDK builds and parses an entity-group transaction with
  the ``email`` package (MIME generator and parser), ~10 ms of CPU per batch. Here the same
  sub-requests (serialized by the SDK itself, so entities are encoded identically) are
  framed as multipart/mixed by hand, sent through the client's own pipeline (auth, retries,
  timeouts) and the response is split by hand. Semantics are the SDK's: all or nothing;
  a failing operation raises ``HttpResponseError`` with that operation's status code
  (404/409/412 ...), ``ResourceExistsError`` for 409 and ``ResourceNotFoundError`` for 404.
- ``CallCounter``: every HTTP request that leaves (retries included), by kind ("table
  batch", "queue get", ...), counted in the session's adapter: a dict increment per call, so
  it is always on (``AzureStore.stats()``, the W13 bench row's calls per orchestration).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.pipeline.transport._requests_basic import BiggerBlockSizeHTTPAdapter
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient
from azure.data.tables._table_batch import TableBatchOperations
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict
from urllib3.util.retry import Retry

from .azure_loopback import LoopbackConnections

POOL_SIZE = 64
# Retries of a failed call (connection reset, reply lost or past the read timeout, 5xx). The
# queue and blob clients would wait 15 s, then 18 s (a default made for throttled accounts),
# stalling a claim or a commit that long for one lost reply; the table client waits 0.8 s,
# then 1.6 s. Queue and blob calls here wait about 1 s, then 3 s.
RETRY_TOTAL = 2
QUEUE_BLOB_RETRY: dict[str, Any] = {"initial_backoff": 1, "increment_base": 2, "random_jitter_range": 0.5}
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})")
# One operation of an entity-group transaction, as TableClient.submit_transaction takes it:
# (kind, entity) or (kind, entity, keyword options)
TableOp = tuple[Any, ...]


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in _LOOPBACK or host.startswith("127.")


class _LoopbackSession(requests.Session):
    """For loopback endpoints: no environment settings (proxy variables, .netrc), no cookies,
    and the request prepared directly (``Session.request`` merges session defaults, cookie
    jars, hooks and the environment first: a third of the transport's CPU per call); plain
    ``http://`` requests go straight to ``http.client`` (azure_loopback.py)."""

    def __init__(self, counter: CallCounter, service: str) -> None:
        super().__init__()
        self.direct = LoopbackConnections(POOL_SIZE)
        self.counter = counter
        self.service = service

    def close(self) -> None:
        self.direct.close()
        super().close()

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        headers: Any = None,
        data: Any = None,
        files: Any = None,
        timeout: Any = None,
        allow_redirects: bool = True,
        proxies: Any = None,
        stream: Any = None,
        verify: Any = None,
        cert: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        plain = isinstance(data, (bytes, str, type(None))) and not files and not kwargs
        if not plain or allow_redirects or proxies:
            return super().request(
                method, url, headers=headers, data=data, files=files, timeout=timeout,
                allow_redirects=allow_redirects, proxies=proxies, stream=stream, verify=verify, cert=cert, **kwargs,
            )  # fmt: skip
        if url.startswith("http://"):
            self.counter.count(self.service, method, url[url.find("/", 7) :])
            return self.direct.request(method.upper(), url, headers, data, timeout)
        prep = requests.PreparedRequest()
        prep.method = method.upper()
        prep.prepare_url(url, None)
        prep.headers = CaseInsensitiveDict(headers or {})
        prep.prepare_body(data or None, None)
        prep.hooks = default_hooks()
        return self.send(
            prep,
            timeout=timeout,
            allow_redirects=False,
            proxies={},
            stream=bool(stream),
            verify=self.verify if verify is None else verify,
            cert=cert,
        )


class CallCounter:
    """Storage calls by kind, e.g. ``{"table batch": 3, "queue get": 7}``."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, service: str, method: str, path: str) -> None:
        kind = call_kind(service, method, path)
        with self._lock:
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def call_kind(service: str, method: str, path: str) -> str:
    """What a storage request does, e.g. "queue delete" or "table merge"; ``path`` is the
    request's path and query (``/account/queue/messages/id?popreceipt=...`` on Azurite)."""
    route, _, query = path.partition("?")
    method = method.upper()
    if service == "queue":
        if "/messages" not in route:
            return "queue admin"  # create, delete, properties
        if method == "GET":
            return "queue peek" if "peekonly=true" in query else "queue get"
        return {"POST": "queue put", "PUT": "queue update", "DELETE": "queue delete"}.get(method, "queue admin")
    if service == "table":
        if route.endswith("$batch"):
            return "table batch"
        if route.rstrip("/").endswith("Tables") or "Tables(" in route:
            return "table admin"  # create / delete a table
        op = {"GET": "query", "POST": "insert", "PUT": "update", "MERGE": "merge", "PATCH": "merge"}
        return f"table {op.get(method, method.lower())}"
    return f"{service} {method.lower()}"


class _CountingAdapter(BiggerBlockSizeHTTPAdapter):
    """The transport adapter, counting each request it sends (one per attempt)."""

    def __init__(self, counter: CallCounter, service: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._counter = counter
        self._service = service

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self._counter.count(self._service, request.method or "", request.path_url)
        return super().send(request, *args, **kwargs)


def http_session(loopback: bool, counter: CallCounter | None = None, service: str = "") -> requests.Session:
    """A session as azure-core's RequestsTransport sets one up, with a larger pool, and no
    environment settings for loopback endpoints; ``counter`` counts its calls as ``service``
    ("table", "queue" or "blob")."""
    counter = counter or CallCounter()
    session = _LoopbackSession(counter, service) if loopback else requests.Session()
    session.trust_env = not loopback
    adapter = _CountingAdapter(
        counter,
        service,
        pool_connections=4,
        pool_maxsize=POOL_SIZE,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    return session


def _part(req: Any) -> bytes:
    """One sub-request as an application/http part body (request line, headers, body)."""
    lines = [f"{req.method} {req.url} HTTP/1.1"]
    for name, value in req.headers.items():
        if name.lower() != "content-length":
            lines.append(f"{name}: {value}")
    body: bytes | str | None = req.content
    if isinstance(body, str):
        body = body.encode()
    elif body is None:
        body = b""
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _parts(body: bytes, content_type: str) -> list[tuple[int, dict[str, str], bytes]]:
    """(status, headers, body) of every HTTP response in a (nested) multipart body."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if m is None:
        raise ValueError(f"no boundary in {content_type!r}")
    delim = b"--" + m.group(1).encode()
    out: list[tuple[int, dict[str, str], bytes]] = []
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, rest = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        headers = _headers(head)
        ctype = headers.get("content-type", "")
        if ctype.startswith("multipart/"):
            out += _parts(rest, ctype)
            continue
        status_head, _, payload = rest.partition(b"\r\n\r\n")
        first, _, header_lines = status_head.partition(b"\r\n")
        sm = _STATUS.match(first)
        if sm is None:
            continue
        out.append((int(sm.group(1)), _headers(header_lines), payload.rstrip(b"\r\n")))
    return out


def _headers(block: bytes) -> dict[str, str]:
    out = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def _error(status: int, payload: bytes) -> HttpResponseError:
    message = payload.decode("utf-8", "replace")
    try:
        message = json.loads(payload)["odata.error"]["message"]["value"]
    except (ValueError, KeyError, TypeError):
        pass
    cls = {404: ResourceNotFoundError, 409: ResourceExistsError}.get(status, HttpResponseError)
    exc = cls(message=f"transaction failed with {status}: {message}")
    exc.status_code = status
    return exc


def submit_transaction(table: TableClient, operations: list[TableOp]) -> list[dict[str, Any]]:
    """``TableClient.submit_transaction`` without the MIME round trips; returns one
    ``{"etag": ...}`` per operation, in order."""
    if not operations:
        return []
    batch = TableBatchOperations(
        config=table._client._config,  # the SDK serializes the operations itself
        endpoint=f"{table.scheme}://{table._primary_hostname}",
        table_name=table.table_name,
        is_cosmos_endpoint=table._cosmos_endpoint,
    )
    for op in operations:
        batch.add_operation(op)
    batch_b, change_b = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    chunks = [f"--{batch_b}\r\nContent-Type: multipart/mixed; boundary={change_b}\r\n\r\n".encode()]
    for i, req in enumerate(batch.requests):
        chunks.append(
            f"--{change_b}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: {i}\r\n\r\n".encode()
        )
        chunks.append(_part(req) + b"\r\n")
    chunks.append(f"--{change_b}--\r\n\r\n--{batch_b}--\r\n".encode())
    request = HttpRequest(
        method="POST",
        url=f"{table.scheme}://{table._primary_hostname}/$batch",
        headers={
            "x-ms-version": table.api_version,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": f"multipart/mixed; boundary={batch_b}",
            "Accept": "application/json",
        },
        content=b"".join(chunks),
    )
    response = table._client._client.send_request(request, stream=True)  # the client pipeline: auth, retries
    if response.status_code != 202:
        raise _error(response.status_code, response.read())
    parts = _parts(response.read(), response.headers.get("content-type", ""))
    for status, _, payload in parts:
        if not 200 <= status < 300:
            raise _error(status, payload)
    if len(parts) != len(operations):
        raise HttpResponseError(message=f"transaction answered {len(parts)} parts for {len(operations)} operations")
    return [{"etag": headers.get("etag")} for _, headers, _ in parts]
