"""Start a throwaway Azurite for the tests that need Azure Storage (marker ``azurite``).

Started lazily, once per session, by ``shared_connection_string`` (the conformance suite's
``azure`` factory and tests/azure use it). Resolution order for the executable:
``$AZURITE_BIN``, then ``node_modules/.bin/azurite`` or ``.azurite/node_modules/.bin/azurite``
in the repo (``npm install --prefix .azurite azurite@3.35.0``), then ``azurite`` on PATH.

Policy: when Azurite cannot be started the tests are skipped with the reason, unless the
environment variable ``CI`` is set (non-empty, not "0"/"false"), in which case they fail:
CI must not silently lose the Azure backend's conformance run. ``AZURITE_CONNECTION_STRING``
points the tests at an already running Azurite (or a real account) instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from durable_local.store.base import Store

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def connection_string(blob_port: int, queue_port: int, table_port: int, host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint=http://{host}:{blob_port}/{ACCOUNT};"
        f"QueueEndpoint=http://{host}:{queue_port}/{ACCOUNT};"
        f"TableEndpoint=http://{host}:{table_port}/{ACCOUNT};"
    )


def find_azurite() -> str | None:
    env = os.environ.get("AZURITE_BIN")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    for local in (REPO / "node_modules" / ".bin" / "azurite", REPO / ".azurite" / "node_modules" / ".bin" / "azurite"):
        if local.exists():
            return str(local)
    return shutil.which("azurite")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Azurite:
    connection_string: str
    process: subprocess.Popen[bytes] | None  # None when AZURITE_CONNECTION_STRING was given


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # azurite is a node script: it runs in its own process group so its children go too
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@contextmanager
def run_azurite() -> Iterator[Azurite]:
    """Start Azurite on free ports under a temp ``--location``; raise RuntimeError if it can't."""
    given = os.environ.get("AZURITE_CONNECTION_STRING")
    if given:
        yield Azurite(given, None)
        return
    exe = find_azurite()
    if exe is None:
        raise RuntimeError(
            "azurite not found (set AZURITE_BIN, or run `npm install --no-save --prefix .azurite azurite@3.35.0`)"
        )
    blob, queue, table = _free_ports(3)
    with tempfile.TemporaryDirectory(prefix="azurite-") as location:
        log = open(Path(location) / "azurite.out", "wb")  # noqa: SIM115 - closed below
        args = [
            exe, "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
            "--blobPort", str(blob), "--queuePort", str(queue), "--tablePort", str(table),
            "--location", location, "--skipApiVersionCheck", "--disableTelemetry", "--silent", "--loose",
        ]  # fmt: skip
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not all(_accepts(p) for p in (blob, queue, table)):
                if proc.poll() is not None:
                    out = (Path(location) / "azurite.out").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"azurite exited with code {proc.returncode}: {out}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"azurite did not open its ports within {START_TIMEOUT:.0f} s")
                time.sleep(0.1)
            yield Azurite(connection_string(blob, queue, table), proc)
        finally:
            _stop(proc)
            log.close()


_shared: dict[str, object] = {}


def _stop_shared() -> None:
    cm = _shared.pop("cm", None)
    if cm is not None:
        cm.__exit__(None, None, None)  # type: ignore[attr-defined]


def shared_connection_string() -> str:
    """The session's Azurite, started on first use and stopped at interpreter exit; skips
    the calling test (fails it when CI is set) if Azurite cannot be started."""
    if "conn" not in _shared and "error" not in _shared:
        cm = run_azurite()
        try:
            _shared["conn"] = cm.__enter__().connection_string
            _shared["cm"] = cm
            atexit.register(_stop_shared)
        except RuntimeError as exc:
            _shared["error"] = str(exc)
    if "error" in _shared:
        if in_ci():
            pytest.fail(f"CI is set but Azurite could not be started: {_shared['error']}", pytrace=False)
        pytest.skip(f"Azurite unavailable: {_shared['error']}")
    return str(_shared["conn"])


def azure_test_store(clock: Callable[[], datetime] | None = None, **opts: Any) -> Store:
    """A store on a fresh, uniquely named hub (deleted again on close), exact mode (no poll)."""
    from durable_local.store import open_store

    opts.setdefault("hub_name", f"T{uuid.uuid4().hex[:12]}")
    opts.setdefault("poll_interval", None)
    opts.setdefault("delete_hub_on_close", True)
    return open_store("azure", Path("."), connection_string=shared_connection_string(), clock=clock, **opts)


@pytest.fixture(scope="session")
def azurite_connection_string() -> str:
    """Session-wide Azurite connection string (import this fixture into a conftest)."""
    return shared_connection_string()
