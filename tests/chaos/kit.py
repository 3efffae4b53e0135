"""Shared pieces of the chaos suites: host subprocesses, order workloads, HTTP helpers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from durable_local.runtime.host import free_port
from tests.e2e.conftest import make_order

REPO = Path(__file__).resolve().parents[2]
WEBHOOK = "/runtime/webhooks/durabletask"
FAULT_HOST = Path(__file__).with_name("fault_host.py")

OK_CARD = "4242424242424242"
DECLINE_CARD = "4000000000000002"
TRANSIENT_CARD = "4000000000009995"
ERROR_CARD = "4000000000000119"


def app_environment(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SANDBOX_DATA_DIR=str(tmp / "sandbox"),
        APPROVAL_THRESHOLD_CENTS="100000000",
        APPROVAL_TIMEOUT_HOURS="72",
        TASK_HUB_NAME="ChaosHub",
        PYTHONUNBUFFERED="1",
    )
    for name in ("PAYMENT_ADAPTER", "CARRIER_ADAPTER", "NOTIFICATION_ADAPTER"):
        env.pop(name, None)
    return env


class HostProcess:
    """``python -m durable_local start`` (or tests/chaos/fault_host.py) as a subprocess on one
    SQLite file; ``kill()`` is SIGKILL, ``terminate()`` SIGTERM; ``start()`` restarts."""

    def __init__(self, tmp: Path, *, port: int | None = None, faults: str | None = None,
                 extra: list[str] | None = None, name: str = "host") -> None:
        self.tmp = tmp
        self.port = port or free_port()
        self.data_dir = tmp / "durable"
        self.env = app_environment(tmp)
        self.faults = faults
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / f"{name}.log"
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "durable.db"

    def command(self) -> list[str]:
        args = ["start", "--app-dir", str(REPO), "--port", str(self.port), "--store", "sqlite",
                "--data-dir", str(self.data_dir), *self.extra]
        if self.faults:
            return [sys.executable, str(FAULT_HOST), self.faults, *args]
        return [sys.executable, "-m", "durable_local", *args]

    def start(self, wait: float = 30.0, faults: str | bool | None = False) -> None:
        if faults is not False:
            self.faults = faults or None
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(self.command(), cwd=str(REPO), env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"host exited with {self.proc.returncode}; log:\n{self.log_text()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"host did not listen on {self.port} in {wait}s; log:\n{self.log_text()[-3000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 40.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout)

    def wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.alive():
                self.terminate(30)
        self.kill()


async def request(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kw) as r:
        text = await r.text()
        try:
            import json

            return r.status, json.loads(text) if text else None
        except ValueError:
            return r.status, text


async def start_order(session: aiohttp.ClientSession, base: str, order: dict[str, Any],
                      deadline: float = 60.0) -> int:
    """POST the order until it is accepted (202) or known (409); survives host restarts."""
    end = time.monotonic() + deadline
    while True:
        try:
            code, _ = await request(session, "POST", f"{base}/api/orders", json=order)
            if code in (202, 409):
                return code
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            pass
        if time.monotonic() > end:
            raise AssertionError(f"could not start {order['orderId']}")
        await asyncio.sleep(0.05)


async def set_stock(session: aiohttp.ClientSession, base: str, sku: str, quantity: int) -> None:
    code, _ = await request(session, "POST", f"{base}/api/inventory/{sku}", json={"quantity": quantity})
    assert code == 202, code
    for _ in range(500):
        code, body = await request(session, "GET", f"{base}/api/inventory/{sku}")
        if code == 200 and body.get("quantity") == quantity:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"stock for {sku} never arrived")


async def statuses(session: aiohttp.ClientSession, base: str, ids: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for iid in ids:
        try:
            code, body = await request(session, "GET", f"{base}{WEBHOOK}/instances/{iid}")
            out[iid] = body.get("runtimeStatus") if code in (200, 202) and isinstance(body, dict) else None
        except (aiohttp.ClientError, OSError):
            out[iid] = None
    return out


def order_mix(n: int, skus: list[str], rng: Any, prefix: str = "o") -> tuple[dict[str, dict[str, Any]],
                                                                             dict[str, dict[str, int]]]:
    """``n`` single- or two-line orders with a card mix: mostly OK, some decline / transient /
    error. Returns (order id -> payload, order id -> {sku: units})."""
    cards = [OK_CARD] * 6 + [DECLINE_CARD, TRANSIENT_CARD, ERROR_CARD]
    orders, lines = {}, {}
    for i in range(n):
        oid = f"{prefix}-{i:04d}"
        picked = rng.sample(skus, rng.choice([1, 1, 2]))
        units = {sku: rng.randint(1, 3) for sku in picked}
        orders[oid] = make_order(oid, [(sku, q, 250) for sku, q in units.items()], card=rng.choice(cards))
        lines[oid] = units
    return orders, lines


CLAIMS = ("claim_orchestrations", "claim_activities")


async def host_idle(h: Any, empty_claims: Any, timeout: float = 5.0) -> bool:
    """Wait (bounded) until an in-process host is idle: no episode or activity in flight, and
    a claim of each kind made after that found no work (the loops are woken to make sure).
    ``empty_claims`` counts the claims that came back empty, by method name (AmbiguousStore
    and the R4 recorder keep one). False if the host was still busy at the timeout.

    A claim in progress is not work: the dispatcher counts its claim job as busy (``busy()``),
    and resetting on it made the claim this function wakes reset it again, a loop of empty
    claims (thousands per second on Azure) that never saw the host idle."""
    d = h.host.dispatcher
    mark: dict[str, int] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _working(d):
            mark = None
        elif mark is None:
            mark = dict(empty_claims)
            d.notify()
        elif not d.busy() and all(empty_claims[k] > mark.get(k, 0) for k in CLAIMS):
            return True
        await asyncio.sleep(0.005)
    return False


def _working(d: Any) -> bool:
    """Episodes or activities in flight (an in-process claim job runs its episodes inside the
    job: the activities they send show here, and their orchestrator messages are claimed by a
    later job before it can find nothing)."""
    return bool(d._inflight or d._deferred or d._acts._inflight)
