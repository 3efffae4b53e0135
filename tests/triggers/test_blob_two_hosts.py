"""Two host processes (the CLI) watching one container on Azurite: each blob version runs once.

The blob receipt is leased while the function runs, and every scan consults the shared
receipts, so the second host neither runs a blob the first is running nor one it finished.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from durable_local.runtime.host import free_port
from durable_local.triggers.blob import SCAN_SECONDS

from .test_queue_crash_cli import start_host, wait
from .triggerkit import marks

pytestmark = pytest.mark.azurite
BLOBS = 12


@pytest.mark.timeout(150)
def test_two_hosts_run_each_blob_version_once(storage_env: dict[str, str], tmp_path: Path) -> None:
    service = BlobServiceClient.from_connection_string(storage_env["AzureWebJobsStorage"])
    container = service.get_container_client(storage_env["IN_CONTAINER"])
    container.create_container()
    hosts = [start_host(tmp_path / f"data{i}", free_port(), tmp_path / f"host{i}.log") for i in range(2)]
    try:
        for i in range(BLOBS):
            container.upload_blob(f"b{i:02}.txt", f"text {i}".encode())
        wait(lambda: len(marks(storage_env, "blob")) >= BLOBS, f"{BLOBS} blob runs", timeout=90)
        container.upload_blob("b00.txt", b"changed", overwrite=True)  # a new version runs once more
        wait(lambda: len(marks(storage_env, "blob")) >= BLOBS + 1, "the changed blob", timeout=60)
        time.sleep(3 * SCAN_SECONDS)  # more scans by both hosts: nothing runs again
    finally:
        for proc in hosts:
            proc.send_signal(signal.SIGINT)
        for proc in hosts:
            proc.wait(timeout=30)
    runs = sorted(line.split(" ", 1)[0] for line in marks(storage_env, "blob"))
    names = [f"{storage_env['IN_CONTAINER']}/b{i:02}.txt" for i in range(BLOBS)]
    assert runs == sorted([*names, names[0]]), runs
