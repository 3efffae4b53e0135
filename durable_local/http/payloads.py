"""JSON payloads of the Durable HTTP API (PROTOCOL §7.1, §7.2, §8.2).

Pure functions: status payloads from store rows, the check-status payload, management URLs,
the durable client binding JSON and ASP.NET ``HttpError`` bodies. ``historyEvents`` come from
:func:`durable_local.engine.status.history_for_status`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from durable_local.engine.events import format_status_time
from durable_local.engine.status import history_for_status, parse_token
from durable_local.store.base import InstanceRecord

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask"
DEFAULT_CONNECTION = "Storage"


def http_error(
    message: str, exception_message: str | None = None, exception_type: str = "System.ArgumentException"
) -> dict[str, Any]:
    """ASP.NET ``HttpError`` body (no stack trace is ever included)."""
    return {"Message": message, "ExceptionMessage": exception_message or message, "ExceptionType": exception_type}


# -- status ----------------------------------------------------------------------------------


def status_payload(
    record: InstanceRecord,
    *,
    show_input: bool = True,
    history: list[dict[str, Any]] | None = None,
    show_history_output: bool = False,
) -> dict[str, Any]:
    """EXT ``StatusResponsePayload`` for one instance row (+ optional raw history)."""
    body: dict[str, Any] = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.runtime_status,
        "input": parse_token(record.input) if show_input else None,
        "customStatus": parse_token(record.custom_status),
        "output": parse_token(record.output),
        "createdTime": format_status_time(record.created_time),
        "lastUpdatedTime": format_status_time(record.last_updated_time),
    }
    if history is not None:
        body["historyEvents"] = history_for_status(history, show_input, show_history_output)
    return body


# -- URLs ------------------------------------------------------------------------------------


def management_urls(
    origin: str,
    instance_id: str,
    hub_name: str,
    *,
    connection: str | None = None,
    system_key: str | None = None,
    quote_id: bool = True,
) -> dict[str, str]:
    """EXT ``GetClientResponseLinks``: every management URL for ``instance_id``.

    ``origin`` is ``scheme://host[:port]``; ids are URL-encoded unless ``quote_id`` is False
    (the binding template keeps the literal ``INSTANCEID`` placeholder).
    """
    iid = quote(instance_id, safe="") if quote_id else instance_id
    prefix = f"{origin}{WEBHOOK_PATH}/instances/{iid}"
    query = f"taskHub={quote(hub_name, safe='')}&connection={quote(connection or DEFAULT_CONNECTION, safe='')}"
    if system_key:
        query += f"&code={quote(system_key, safe='')}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{prefix}?{query}",
        "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{prefix}?{query}",
        "restartPostUri": f"{prefix}/restart?{query}",
        "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{prefix}/resume?reason={{text}}&{query}",
    }


def check_status_payload(
    origin: str, instance_id: str, hub_name: str, *, system_key: str | None = None
) -> dict[str, str]:
    """EXT ``CreateCheckStatusResponseMessage`` body (no ``rewindPostUri``)."""
    urls = management_urls(origin, instance_id, hub_name, system_key=system_key)
    urls.pop("rewindPostUri")
    return urls


class CheckStatusTemplate:
    """:func:`check_status_payload` for one (origin, hub, key), pre-rendered: ``render(id)``
    returns the payload as the exact bytes of ``json.dumps(payload)`` plus the
    ``statusQueryGetUri`` (the 202's ``Location``), without rebuilding every URL per start."""

    __slots__ = ("_parts", "_status_prefix", "_status_suffix")

    _MARK = "\x00INSTANCEID\x00"  # NUL: never in a Host header, hub name or key (checked below)

    def __init__(self, origin: str, hub_name: str, *, system_key: str | None = None) -> None:
        urls = management_urls(origin, self._MARK, hub_name, system_key=system_key, quote_id=False)
        urls.pop("id")
        urls.pop("rewindPostUri")  # as check_status_payload
        # json.dumps escapes per character, so the encoded template splits cleanly at the
        # (encoded) marker; a URL-quoted id is plain ASCII that JSON never escapes
        encoded = json.dumps(urls)
        mark = json.dumps(self._MARK)[1:-1]
        if encoded.count(mark) != len(urls) or urls["statusQueryGetUri"].count(self._MARK) != 1:
            raise ValueError("origin, hub name or key contain the instance id marker")
        self._parts = encoded[1:].split(mark)  # the payload minus its leading "{"
        self._status_prefix, self._status_suffix = urls["statusQueryGetUri"].split(self._MARK)

    def render(self, instance_id: str) -> tuple[bytes, str]:
        iid = quote(instance_id, safe="")
        body = '{"id": ' + json.dumps(instance_id) + ", " + iid.join(self._parts)
        return body.encode(), self._status_prefix + iid + self._status_suffix


def client_binding(
    origin: str,
    hub_name: str,
    rpc_base_url: str,
    *,
    task_hub: str | None = None,
    connection_name: str | None = None,
    system_key: str | None = None,
) -> dict[str, Any]:
    """The ``durableClient`` binding value (EXT ``OrchestrationClientInputData``, §7.1)."""
    base = f"{origin}{WEBHOOK_PATH}"
    wait = "timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}"
    required = f"code={quote(system_key, safe='')}" if system_key else ""
    hub = task_hub or hub_name
    return {
        "taskHubName": hub,
        "connectionName": connection_name,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{required}",
            "createAndWaitOnNewInstancePostUri": (
                f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{wait}" + (f"&{required}" if required else "")
            ),
        },
        "managementUrls": management_urls(
            origin, "INSTANCEID", hub, connection=connection_name, system_key=system_key, quote_id=False
        ),
        "baseUrl": base,
        "requiredQueryStringParameters": required,
        "rpcBaseUrl": rpc_base_url,
        "httpBaseUrl": None,
    }
