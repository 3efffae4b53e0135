"""Reads and writes of the Storage bindings (blob, queue, table) through the Azure SDKs.

Every function takes the connection *setting* name and an already-resolved path or name.
Containers, queues and tables are created on first write, as the host's bindings do. Queue
messages are written in the host's ``messageEncoding`` (base64 by default).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from .connections import blob_service, queue_service, table_service

_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$")


class BindingDataError(Exception):
    """A value or a resolved name the binding cannot use (bad queue name, entity without keys)."""


def split_blob_path(path: str) -> tuple[str, str]:
    container, _, blob = path.strip("/").partition("/")
    if not container or not blob:
        raise BindingDataError(f"blob path '{path}' must be 'container/blob'")
    return container, blob


def check_queue_name(name: str) -> str:
    low = name.lower()  # the host lower-cases queue names too
    if not _QUEUE_NAME.match(low):
        raise BindingDataError(
            f"'{name}' is not a valid queue name (3-63 lower-case letters, digits and single dashes)"
        )
    return low


def encode_message(body: bytes, encoding: str) -> str:
    """The message text for a body in the host's ``messageEncoding`` (base64 | none)."""
    if encoding == "none":
        return body.decode("utf-8")
    return base64.b64encode(body).decode("ascii")


def decode_message(text: str, encoding: str) -> bytes:
    """The body of a message text; ValueError when base64 was expected and is not there."""
    if encoding == "none":
        return text.encode("utf-8")
    return base64.b64decode(text.encode("ascii"), validate=True)


def read_blob(setting: str, path: str) -> tuple[bytes, dict[str, Any], str] | None:
    """(content, properties, uri) of a blob, or None when it does not exist (the host passes null)."""
    from azure.core.exceptions import ResourceNotFoundError

    container, blob = split_blob_path(path)
    client = blob_service(setting).get_blob_client(container, blob)
    try:
        downloader = client.download_blob()
        data = downloader.readall()
    except ResourceNotFoundError:
        return None
    props = downloader.properties
    properties = {"ContentLength": props.size, "ETag": props.etag, "ContentType": props.content_settings.content_type}
    return data, properties, client.url


def write_blob(setting: str, path: str, data: bytes) -> None:
    from azure.core.exceptions import ResourceExistsError

    container, blob = split_blob_path(path)
    service = blob_service(setting)
    try:
        service.create_container(container)
    except ResourceExistsError:
        pass
    service.get_blob_client(container, blob).upload_blob(data, overwrite=True)


def send_messages(setting: str, queue: str, bodies: list[bytes], encoding: str) -> None:
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    client = queue_service(setting).get_queue_client(check_queue_name(queue))
    for body in bodies:
        text = encode_message(body, encoding)
        try:
            client.send_message(text)
        except ResourceNotFoundError:
            try:
                client.create_queue()
            except ResourceExistsError:
                pass
            client.send_message(text)


def read_table(setting: str, table: str, binding: dict[str, Any], resolve: Any) -> str:
    """The table input value: one entity (partitionKey + rowKey) or a query, as JSON text."""
    from azure.core.exceptions import ResourceNotFoundError

    client = table_service(setting).get_table_client(table)
    pk = binding.get("partitionKey")
    rk = binding.get("rowKey")
    try:
        if pk is not None and rk is not None:
            try:
                entity = client.get_entity(resolve(pk), resolve(rk))
            except ResourceNotFoundError:
                return "null"
            return json.dumps(_plain_entity(entity))
        clauses = []
        if pk is not None:
            clauses.append("PartitionKey eq '{}'".format(resolve(pk).replace("'", "''")))
        if binding.get("filter"):
            clauses.append(f"({resolve(str(binding['filter']))})")
        take = int(binding.get("take") or 0)
        query = " and ".join(clauses)
        entities = client.query_entities(query) if query else client.list_entities()
        out = []
        for entity in entities:
            out.append(_plain_entity(entity))
            if take and len(out) >= take:
                break
        return json.dumps(out)
    except ResourceNotFoundError:
        return "null" if (pk is not None and rk is not None) else "[]"


def _plain_entity(entity: Any) -> dict[str, Any]:
    out = {k: (v.value if hasattr(v, "edm_type") else v) for k, v in dict(entity).items()}
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in out.items()}


def write_entities(setting: str, table: str, entities: list[dict[str, Any]]) -> None:
    """Upsert (replace) each entity; PartitionKey and RowKey are required."""
    from azure.core.exceptions import ResourceExistsError

    for entity in entities:
        if not isinstance(entity, dict) or "PartitionKey" not in entity or "RowKey" not in entity:
            raise BindingDataError("a table output entity must be a JSON object with PartitionKey and RowKey")
    service = table_service(setting)
    try:
        service.create_table(table)
    except ResourceExistsError:
        pass
    client = service.get_table_client(table)
    for entity in entities:
        client.upsert_entity(entity)
