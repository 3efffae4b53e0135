"""Blob-trigger receipts: which blob versions a function has handled, shared by every host.

A receipt is an empty blob in ``azure-webjobs-hosts`` under
``blobreceipts/<host id>/<function>/<etag>/<container>/<blob>``, as the host keeps them. Its
metadata says whether the version is done (``Completed``) and how many attempts failed
(``Attempts``). A host *claims* a version by creating its receipt and taking a 60-second lease
on it, which it renews while the function runs; a second host that scans the same container
meanwhile cannot lease it and leaves the blob alone. A host that dies leaves a lease that
expires, and the next scan anywhere takes the version over. Receipts written before leases
existed (no metadata) count as done.

All methods block (storage I/O): callers run them on an executor.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from durable_local.bindings.connections import blob_service

RECEIPTS_CONTAINER = "azure-webjobs-hosts"
LEASE_SECONDS = 60  # the longest finite blob lease
RENEW_SECONDS = 20.0


def _done(metadata: dict[str, str] | None) -> bool:
    return (metadata or {}).get("Completed", "true").lower() == "true"


@dataclass
class Claim:
    """A leased receipt: this host runs the version until it completes or releases it."""

    key: str
    lease: Any  # azure.storage.blob.BlobLeaseClient
    attempts: int  # failed attempts so far, by any host


class BlobReceipts:
    """The receipts of one function (keys are ``<etag>/<container>/<blob>``)."""

    def __init__(self, setting: str, host_id: str, function_name: str) -> None:
        self.setting = setting
        self.prefix = f"blobreceipts/{host_id}/{function_name}/"
        self.done: set[str] = set()  # versions known to be completed; no storage call needed
        self._container_ready = False

    def _blob(self, key: str) -> Any:
        return blob_service(self.setting).get_blob_client(RECEIPTS_CONTAINER, self.prefix + key)

    def load(self) -> None:
        """Read the completed receipts (at start: a restarted host does not run them again)."""
        from azure.core.exceptions import ResourceNotFoundError

        container = blob_service(self.setting).get_container_client(RECEIPTS_CONTAINER)
        try:
            found = container.list_blobs(name_starts_with=self.prefix, include=["metadata"])
            self.done = {b.name[len(self.prefix) :] for b in found if _done(b.metadata)}
        except ResourceNotFoundError:
            self.done = set()

    def claim(self, key: str) -> Claim | None:
        """Lease the version's receipt; None when it is completed or another host holds it."""
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        if not self._container_ready:
            with contextlib.suppress(ResourceExistsError):
                blob_service(self.setting).create_container(RECEIPTS_CONTAINER)
            self._container_ready = True
        client = self._blob(key)
        with contextlib.suppress(ResourceExistsError):  # another host (or an earlier run) created it
            client.upload_blob(b"", overwrite=False, metadata={"Completed": "false", "Attempts": "0"})
        try:
            lease = client.acquire_lease(lease_duration=LEASE_SECONDS)
        except HttpResponseError as exc:
            if exc.status_code == 409:  # leased: another host is running it
                return None
            raise
        # read after leasing: a host that finished just before our lease has marked it done
        metadata = client.get_blob_properties(lease=lease).metadata
        if _done(metadata):
            lease.release()
            self.done.add(key)
            return None
        return Claim(key, lease, int(metadata.get("Attempts", "0") or 0))

    @staticmethod
    def renew(claim: Claim) -> None:
        claim.lease.renew()

    def complete(self, claim: Claim) -> None:
        """The version is handled (succeeded, or reported as poison): no host runs it again."""
        self._blob(claim.key).set_blob_metadata({"Completed": "true", "Attempts": str(claim.attempts)},
                                                lease=claim.lease)  # fmt: skip
        self.done.add(claim.key)
        with contextlib.suppress(Exception):  # an unreleased lease only expires
            claim.lease.release()

    def fail(self, claim: Claim) -> None:
        """One more failed attempt, recorded for every host; the next scan may retry it."""
        self._blob(claim.key).set_blob_metadata({"Completed": "false", "Attempts": str(claim.attempts)},
                                                lease=claim.lease)  # fmt: skip
        claim.lease.release()

    @staticmethod
    def release(claim: Claim) -> None:
        """Give the version back untouched (its blob changed or vanished meanwhile)."""
        with contextlib.suppress(Exception):
            claim.lease.release()
