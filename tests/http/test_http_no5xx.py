"""Bad input never yields a 5xx (RELIABILITY S1/S2 smoke sweep over the Durable API)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from durable_local.store.base import InstanceQuery

BASES = ["/durabletask", "/runtime/webhooks/durabletask"]
PATHS = [
    "/orchestrators/hello_orchestrator", "/orchestrators/hello_orchestrator/%00", "/orchestrators/%ff%fe",
    "/orchestrators/", "/instances/", "/instances/%2e%2e%2f", "/instances/x/raiseEvent/%ff",
    "/instances/x/raiseEvent/", "/instances/x/restart", "/instances/x/rewind", "/entities/", "/entities/Counter",
    "/entities/Counter/%00", "/entities/@bad/k", "/entities/counter/" + "k" * 300, "/instances/" + "x" * 5000,
    "/instances/?top=-1&createdTimeFrom=notadate&createdTimeTo=9999-99-99&runtimeStatus=,,,&showInput=maybe",
    "/instances/?createdTimeFrom=99999-01-01T00:00:00Z",
    "/orchestrators/hello_orchestrator?timeout=1e309&pollingInterval=-1",
    "/instances/x/restart?restartWithNewInstanceId=maybe&timeout=nan&pollingInterval=nan",
]
BODIES: list[tuple[bytes, str]] = [
    (b"", "application/json"), (b"{", "application/json"), (b"\xff\xfe\xfd", "application/json"),
    (b"null", "application/json"), (b'"x"', "text/plain"), (b"[1,2,3]", "application/xml"),
    (b'{"a":' * 50 + b"1" + b"}" * 50, "application/json"), (b"[" * 200_000 + b"]" * 200_000, "application/json"),
]


@pytest.mark.parametrize(("base", "path"), list(itertools.product(BASES, PATHS)))
async def test_no_5xx_for_bad_input(srv: Any, base: str, path: str) -> None:
    for method in ("GET", "POST", "DELETE", "PUT"):
        for body, ctype in BODIES:
            code, _, _ = await srv.call(method, base + path, data=body, headers={"Content-Type": ctype})
            assert code < 500, (method, base + path, body[:20], code)
    # nothing invalid got created: only the plain start route can create instances
    for rec in srv.store.query_instances(InstanceQuery(top=0)).instances:
        assert rec.name == "hello_orchestrator"
