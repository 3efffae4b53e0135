"""A tiny aiohttp stand-in for the Durable extension's client RPC endpoint (PROTOCOL §7).

Records every request and answers with canned responses registered per (method, path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

STATUS_BASE = "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class RpcStub:
    """Start with ``await stub.start()``; ``binding`` is the durable client binding JSON string."""

    responses: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    def on(self, method: str, path: str, status: int, body: Any = None) -> None:
        self.responses[(method, path)] = (status, body)

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        path = request.path.removeprefix("/durabletask/")
        self.requests.append(Recorded(request.method, path, dict(request.query), body))
        status, payload = self.responses.get((request.method, path), (404, None))
        text = "" if payload is None else json.dumps(payload)
        return web.Response(status=status, text=text, content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/durabletask/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def binding(self) -> str:
        suffix = "?taskHub=TestHub&connection=Storage"
        return json.dumps(
            {
                "taskHubName": "TestHub",
                "connectionName": None,
                "creationUrls": {
                    "createNewInstancePostUri": "http://localhost:7071/runtime/webhooks/durabletask/orchestrators/"
                    "{functionName}[/{instanceId}]?",
                    "createAndWaitOnNewInstancePostUri": "http://localhost:7071/runtime/webhooks/durabletask/"
                    "orchestrators/{functionName}[/{instanceId}]?timeout="
                    "{timeoutInSeconds}&pollingInterval={intervalInSeconds}",
                },
                "managementUrls": {
                    "id": "INSTANCEID",
                    "statusQueryGetUri": STATUS_BASE + suffix,
                    "sendEventPostUri": STATUS_BASE + "/raiseEvent/{eventName}" + suffix,
                    "terminatePostUri": STATUS_BASE
                    + "/terminate?reason={text}&taskHub=TestHub&connection=Storage",
                    "rewindPostUri": STATUS_BASE + "/rewind?reason={text}&taskHub=TestHub&connection=Storage",
                    "purgeHistoryDeleteUri": STATUS_BASE + suffix,
                    "restartPostUri": STATUS_BASE + "/restart" + suffix,
                    "suspendPostUri": STATUS_BASE
                    + "/suspend?reason={text}&taskHub=TestHub&connection=Storage",
                    "resumePostUri": STATUS_BASE + "/resume?reason={text}&taskHub=TestHub&connection=Storage",
                },
                "baseUrl": "http://localhost:7071/runtime/webhooks/durabletask",
                "requiredQueryStringParameters": "",
                "rpcBaseUrl": self.base_url,
                "httpBaseUrl": None,
            }
        )


def status_payload(instance_id: str, runtime_status: str, output: Any = None, custom: Any = None) -> dict:
    """What ``GET instances/{id}`` returns (PROTOCOL §8.2)."""
    return {
        "name": "OrderSaga",
        "instanceId": instance_id,
        "runtimeStatus": runtime_status,
        "input": "{}",
        "customStatus": custom,
        "output": output,
        "createdTime": "2024-01-01T00:00:00Z",
        "lastUpdatedTime": "2024-01-01T00:00:05Z",
    }
