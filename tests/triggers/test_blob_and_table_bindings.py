"""Blob triggers, blob and table input/output bindings and binding errors, end to end on Azurite."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import pytest
from azure.storage.blob import BlobServiceClient

from durable_local.runtime.host import free_port
from durable_local.testing import running_host
from durable_local.triggers.blob import SCAN_SECONDS
from tests.azurite import connection_string

from .conftest import STORAGE_APP as APP
from .triggerkit import marks

pytestmark = pytest.mark.azurite


def blobs(env: dict[str, str]) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(env["AzureWebJobsStorage"])


def out_text(env: dict[str, str], name: str) -> str | None:
    client = blobs(env).get_blob_client(env["OUT_CONTAINER"], name)
    return client.download_blob().readall().decode() if client.exists() else None


async def test_blob_trigger_runs_once_per_new_or_changed_blob_and_not_after_restart(
    storage_env: dict[str, str],
) -> None:
    service = blobs(storage_env)
    container = service.create_container(storage_env["IN_CONTAINER"])
    container.upload_blob("a.txt", b"first")
    container.upload_blob("dir/b.txt", b"second")
    container.upload_blob("ignored.bin", b"not matching {name}.txt")
    year = datetime.now(timezone.utc).strftime("%Y")
    async with running_host(APP) as h:
        await h.wait_until(lambda: len(marks(storage_env, "blob")) == 2, timeout=30, what="two blobs")
        # {name} is binding data for the output path; InputStream carries name and length
        await h.wait_until(lambda: out_text(storage_env, f"a-{year}.out") == "FIRST", what="a's output")
        await h.wait_until(lambda: out_text(storage_env, f"dir/b-{year}.out") == "SECOND", what="b's output")
        assert sorted(marks(storage_env, "blob")) == [
            f"{storage_env['IN_CONTAINER']}/a.txt 5 first",
            f"{storage_env['IN_CONTAINER']}/dir/b.txt 6 second",
        ]
        container.upload_blob("a.txt", b"changed", overwrite=True)  # a new etag: runs again
        await h.wait_until(lambda: len(marks(storage_env, "blob")) == 3, timeout=30, what="the changed blob")
        await h.wait_until(lambda: out_text(storage_env, f"a-{year}.out") == "CHANGED", what="the new output")
    # a restarted host reads the receipts back: nothing runs again
    async with running_host(APP) as h:
        container.upload_blob("c.txt", b"third")
        await h.wait_until(lambda: len(marks(storage_env, "blob")) == 4, timeout=30, what="the new blob")
        await asyncio.sleep(2 * SCAN_SECONDS)  # more scans: processed blobs stay processed
    assert len(marks(storage_env, "blob")) == 4
    assert marks(storage_env, "blob")[-1].endswith("/c.txt 5 third")


async def test_table_output_and_input(storage_env: dict[str, str]) -> None:
    async with running_host(APP) as h:
        code, body, _ = await h.post("/api/tables/p1/r1", json={"colour": "red", "size": 3})
        assert (code, body) == (201, "stored")
        await h.post("/api/tables/p1/r2", json={"colour": "blue", "size": 4})
        code, row, _ = await h.get("/api/tables/p1/r1")
        assert code == 200
        assert {k: row[k] for k in ("PartitionKey", "RowKey", "colour", "size")} == {
            "PartitionKey": "p1",
            "RowKey": "r1",
            "colour": "red",
            "size": 3,
        }
        code, rows, _ = await h.get("/api/tables/p1")
        assert code == 200 and sorted(r["RowKey"] for r in rows) == ["r1", "r2"]
        code, _, _ = await h.get("/api/tables/p1/missing")
        assert code == 404  # a missing entity is passed as null


async def test_blob_output_and_input(storage_env: dict[str, str]) -> None:
    async with running_host(APP) as h:
        code, _, _ = await h.get("/api/blobs/nothing.txt")
        assert code == 404  # a missing blob is passed as None
        code, body, _ = await h.request("PUT", "/api/blobs/note.txt", data=b"hello blob")
        assert (code, body) == (200, "written")
        code, body, _ = await h.get("/api/blobs/note.txt")
        assert (code, body) == (200, "hello blob")


async def test_binding_errors_name_the_function(storage_env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with running_host(APP) as h:
        startup = [r.getMessage() for r in caplog.records]
        assert any(
            "function bad_type: binding 'out' has type 'madeUpBinding', which this host does not run" in m
            for m in startup
        ), startup
        code, body, _ = await h.post("/api/bad-type")
        assert code == 500 and body["error"] == "Exception while executing function: Functions.bad_type"
        code, body, _ = await h.post("/api/bad-expression")
        assert code == 500 and "Functions.bad_expression" in body["error"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Function 'bad_expression': binding 'out' (queue): no value for {missing} in the trigger data" in logged
    assert "Traceback" not in "\n".join(r.getMessage() for r in caplog.records if "bad_" in r.getMessage())


async def test_missing_and_unreachable_connection_is_one_line_and_the_app_runs(
    storage_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # an emulator on loopback ports where nothing listens
    port = free_port()
    monkeypatch.setenv("AzureWebJobsStorage", connection_string(port, port, port))
    async with running_host(APP) as h:
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("durable_local.triggers")]
        # the rest of the app runs
        code, _, _ = await h.post("/runtime/webhooks/durabletask/orchestrators/hello_orchestrator", json="x")
        assert code == 202
    queue_line = next(line for line in lines if line.startswith("Function 'queue_start' (queueTrigger"))
    assert "connection 'AzureWebJobsStorage'" in queue_line and "npx azurite" in queue_line
    assert any(line.startswith("Function 'on_blob' (blobTrigger, connection 'AzureWebJobsStorage')") for line in lines)
    assert h.host.triggers.notes["queue_start"].startswith("error: ")
    assert any("function hello: queue binding 'out'" in line for line in lines)
    assert all("Traceback" not in line for line in lines)
