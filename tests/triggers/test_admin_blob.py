"""Admin invoke of a blob-triggered function: the input is the blob path (Azurite)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from durable_local.testing import running_host
from tests.azurite import shared_connection_string
from tests.triggers.triggerkit import ExecutionLog

pytestmark = pytest.mark.azurite
BLOB_APP = Path(__file__).parent / "blob_app"


async def test_admin_invoke_reads_the_blob_at_the_input_path(
    runs: ExecutionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = shared_connection_string()
    monkeypatch.setenv("AzureWebJobsStorage", conn)
    # no listeners: only the admin calls run them
    monkeypatch.setenv("AzureWebJobs.on_blob.Disabled", "true")
    monkeypatch.setenv("AzureWebJobs.on_blob_text.Disabled", "true")
    name = f"{uuid.uuid4().hex}.txt"
    with BlobServiceClient.from_connection_string(conn) as service:
        container = service.get_container_client("samples")
        if not container.exists():
            container.create_container()
        container.upload_blob(name, b"hello blob", overwrite=True)
    async with running_host(BLOB_APP) as h:
        code, reply, _ = await h.post("/admin/functions/on_blob", json={"input": f"samples/{name}"})
        assert (code, reply) == (202, None)
        code, reply, _ = await h.post("/admin/functions/on_blob", json={"input": "samples/missing.txt"})
        assert code == 400 and reply == {
            "error": "Function 'on_blob' (blobTrigger): blob 'samples/missing.txt' does not exist"
        }
        code, reply, _ = await h.post("/admin/functions/on_blob", json={"input": "no-slash"})
        assert code == 400 and "'input' must be a blob path 'container/name'" in reply["error"]
        code, reply, _ = await h.post("/admin/functions/on_blob_text", json={"input": f"samples/{name}"})
        assert (code, reply) == (202, None)
        await h.wait_until(lambda: runs.count("on_blob") == 1, what="the blob function")
        await h.wait_until(lambda: runs.count("on_blob_text") == 1, what="the str blob function")
    assert runs.entries("on_blob") == [{"fn": "on_blob", "name": f"samples/{name}", "length": 10, "text": "hello blob"}]
    assert runs.entries("on_blob_text") == [{"fn": "on_blob_text", "type": "str", "text": "hello blob"}]
