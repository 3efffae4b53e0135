"""durabletask-python's in-memory backend (``durabletask.testing``) on the same workloads.

The backend runs in this process behind its gRPC server, the worker beside it, as its own
tests do. Figures come from the backend's instance timestamps (created_at → completed_at).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

from .common import median, pct


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def echo(ctx: Any, value: Any) -> Any:
    return value


def chain(ctx: Any, n: int) -> Any:
    total = 0
    for i in range(int(n or 0)):
        total += yield ctx.call_activity(echo, input=i)
    return total


def fan(ctx: Any, n: int) -> Any:
    from durabletask import task

    results = yield task.when_all([ctx.call_activity(echo, input=i) for i in range(int(n or 0))])
    return sum(results)


def waiter(ctx: Any, n: int) -> Any:
    total = 0
    for _ in range(int(n or 0)):
        total += yield ctx.wait_for_external_event("e")
    return total


@contextlib.contextmanager
def backend() -> Iterator[tuple[Any, Any]]:
    from durabletask import client, worker
    from durabletask.testing import create_test_backend

    logging.disable(logging.WARNING)  # its worker logs every episode at INFO
    port = _free_port()
    be = create_test_backend(port=port)
    w = worker.TaskHubGrpcWorker(host_address=f"localhost:{port}")
    for f in (chain, fan, waiter):
        w.add_orchestrator(f)
    w.add_activity(echo)
    w.start()
    c = client.TaskHubGrpcClient(host_address=f"localhost:{port}")
    try:
        yield be, c
    finally:
        w.stop()
        be.stop()


def _rows(be: Any, ids: list[str]) -> list[Any]:
    rows = [be._instances[i] for i in ids]
    for r in rows:
        if r.completed_at is None:
            raise RuntimeError(f"durabletask instance {r.instance_id} did not complete: {r.status}")
    return rows


def _wait(c: Any, ids: list[str], timeout: float = 600.0) -> None:
    for i in ids:
        c.wait_for_orchestration_completion(i, timeout=timeout)


def w1(n: int = 1000, length: int = 5) -> dict[str, Any]:
    with backend() as (be, c):
        ids = [c.schedule_new_orchestration(chain, input=length) for _ in range(n)]
        _wait(c, ids)
        rows = _rows(be, ids)
    span = (max(r.completed_at for r in rows) - min(r.created_at for r in rows)).total_seconds()
    return {"value": n / span}


def w2(n: int = 50) -> dict[str, Any]:
    with backend() as (be, c):
        lat = []
        for k in range(n + 2):
            iid = c.schedule_new_orchestration(chain, input=5)
            c.wait_for_orchestration_completion(iid, timeout=60)
            r = _rows(be, [iid])[0]
            if k >= 2:
                lat.append((r.completed_at - r.created_at).total_seconds() * 1000)
    return {"value": median(lat), "p99": pct(lat, 99)}


def w6(width: int = 1000) -> dict[str, Any]:
    with backend() as (be, c):
        iid = c.schedule_new_orchestration(fan, input=width)
        c.wait_for_orchestration_completion(iid, timeout=600)
        r = _rows(be, [iid])[0]
    return {"value": width / (r.completed_at - r.created_at).total_seconds()}


def w9(n: int = 200) -> dict[str, Any]:
    with backend() as (be, c):
        iid = c.schedule_new_orchestration(waiter, input=n)
        for _ in range(n):
            c.raise_orchestration_event(iid, "e", data=1)
        c.wait_for_orchestration_completion(iid, timeout=600)
        r = _rows(be, [iid])[0]
    return {"value": n / (r.completed_at - r.created_at).total_seconds()}


PEERS = {"W1": w1, "W2": w2, "W6": w6, "W9": w9}


def run(key: str, **kw: Any) -> dict[str, Any]:
    t = time.perf_counter()
    out = PEERS[key](**kw)
    out["secs"] = time.perf_counter() - t
    return out
