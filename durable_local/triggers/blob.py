"""Blob triggers: every new or changed blob under the trigger's path runs the function once.

Like the host's classic blob trigger, the listener scans the container (every
``SCAN_SECONDS``) and keeps a *receipt* per processed blob version in storage
(``blob_receipts``); a restarted host reads them back and does not run processed blobs
again, a changed blob (new etag) runs again, and hosts that watch one container at the same
time run each version once (the receipt is leased while the function runs). A failing blob is
retried on the next scans, up to ``maxDequeueCount`` (host.json ``extensions.queues``, default
5) attempts counted across hosts, then reported on the ``webjobs-blobtrigger-poison`` queue as
the host does and marked done.

The path may name parts of the blob, e.g. ``images/{name}.{ext}``: each ``{...}`` becomes
binding data for the function's other bindings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from durable_local.app_loader import FunctionInfo
from durable_local.bindings import BindingError, invoke_function
from durable_local.bindings.checks import storage_problem
from durable_local.bindings.connections import blob_service, describe_error, queue_service, setting_name
from durable_local.bindings.expressions import BindingExpressionError, resolve_settings
from durable_local.bindings.invocation import blob_param_value
from durable_local.bindings.storage_io import BindingDataError, split_blob_path
from durable_local.runtime.context import HostContext

from .blob_receipts import RENEW_SECONDS, BlobReceipts, Claim
from .manager import TriggerSetupError
from .queue import QueueOptions

log = logging.getLogger("durable_local.triggers.blob")

SCAN_SECONDS = 2.0
POISON_QUEUE = "webjobs-blobtrigger-poison"
_PART = re.compile(r"\{([^{}]+)\}")


def path_pattern(blob_part: str) -> tuple[str, re.Pattern[str]]:
    """(listing prefix, regex with one named group per ``{...}``) for the blob part of a path."""
    prefix = blob_part.split("{", 1)[0]
    pieces: list[str] = []
    last = 0
    for m in _PART.finditer(blob_part):
        pieces.append(re.escape(blob_part[last : m.start()]))
        name = m.group(1).strip()
        if not name.isidentifier():
            raise BindingDataError(f"'{{{name}}}' in a blob trigger path must be a plain name")
        pieces.append(f"(?P<{name}>.+?)")
        last = m.end()
    pieces.append(re.escape(blob_part[last:]))
    return prefix, re.compile("^" + "".join(pieces) + "$")


class BlobListener:
    """Scans one container for one function."""

    def __init__(
        self, ctx: HostContext, fi: FunctionInfo, setting: str, container: str, blob_part: str, max_attempts: int
    ) -> None:
        self.ctx = ctx
        self.fi = fi
        self.function_name = fi.function_name
        self.setting = setting
        self.container = container
        self.prefix, self.pattern = path_pattern(blob_part)
        self.max_attempts = max_attempts
        self.receipts = BlobReceipts(setting, ctx.hub_name.lower(), fi.function_name)
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"blob-{container}")
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, partial(fn, *args, **kwargs))

    async def start(self) -> None:
        problem = await self._call(storage_problem, self.setting, "blob")
        if problem is not None:
            raise TriggerSetupError(
                f"Function '{self.function_name}' (blobTrigger, connection '{self.setting}'): {problem}"
            )
        self._task = asyncio.create_task(self._scan_loop(), name=f"blob:{self.function_name}")
        log.info("function %s: watching blobs '%s/%s*'", self.function_name, self.container, self.prefix)

    async def stop(self) -> None:
        """Stop after the blob being processed (if any) finished."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        self._io.shutdown(wait=False)

    async def _scan_loop(self) -> None:
        try:
            await self._call(self.receipts.load)
        except Exception as exc:
            log.error("function %s: reading blob receipts failed: %s", self.function_name, describe_error(exc))
        while not self._stopping.is_set():
            try:
                await self.scan_once()
            except Exception as exc:
                log.warning("function %s: scanning '%s' failed: %s", self.function_name, self.container,
                            describe_error(exc))  # fmt: skip
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), SCAN_SECONDS)

    def _list(self) -> list[Any]:
        from azure.core.exceptions import ResourceNotFoundError

        client = blob_service(self.setting).get_container_client(self.container)
        try:
            return list(client.list_blobs(name_starts_with=self.prefix or None))
        except ResourceNotFoundError:
            return []

    async def scan_once(self) -> None:
        for props in await self._call(self._list):
            if self._stopping.is_set():
                return
            match = self.pattern.match(props.name)
            key = f"{props.etag.strip(chr(34))}/{self.container}/{props.name}"
            if match is None or key in self.receipts.done:
                continue
            await self._process(props, match.groupdict(), key)

    async def _process(self, props: Any, parts: dict[str, str], key: str) -> None:
        claim = await self._call(self.receipts.claim, key)
        if claim is None:
            return  # done, or another host is running it
        renewing = asyncio.create_task(self._keep_leased(claim))
        try:
            outcome = await self._run(props, parts, claim)
        except BaseException:
            await self._call(BlobReceipts.release, claim)
            raise
        finally:
            renewing.cancel()
        if outcome == "gone":
            await self._call(BlobReceipts.release, claim)
        elif outcome == "retry":
            await self._call(self.receipts.fail, claim)
        else:
            await self._call(self.receipts.complete, claim)

    async def _keep_leased(self, claim: Claim) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self._call(BlobReceipts.renew, claim)
            except Exception as exc:  # the lease may expire: another host could run the blob too
                log.warning("function %s: renewing the lease of blob receipt %s failed: %s", self.function_name,
                            claim.key, describe_error(exc))  # fmt: skip

    async def _run(self, props: Any, parts: dict[str, str], claim: Claim) -> str:
        """Run the function on the claimed version: "done", "retry" or "gone" (changed or deleted)."""
        from azure.core.exceptions import ResourceNotFoundError

        path = f"{self.container}/{props.name}"
        client = blob_service(self.setting).get_blob_client(self.container, props.name)
        try:
            data = await self._call(self._download, client, props.etag)
        except ResourceNotFoundError:
            return "gone"  # deleted since the listing
        except Exception as exc:  # changed since the listing (412): the next scan sees the new version
            log.info("function %s: blob %s changed while reading (%s)", self.function_name, path, describe_error(exc))
            return "gone"
        properties = {"ContentLength": props.size, "ETag": props.etag, "LastModified": str(props.last_modified)}
        metadata = dict(props.metadata or {})
        data_for_bindings: dict[str, Any] = {
            **parts,
            "BlobTrigger": path,
            "Uri": client.url,
            "Properties": properties,
            "Metadata": metadata,
        }
        log.info("Executing 'Functions.%s' (blob %s)", self.function_name, path)
        try:
            await invoke_function(self.ctx, self.fi, self._value(data, path, client.url, properties, metadata),
                                  data_for_bindings)  # fmt: skip
        except Exception as exc:
            if isinstance(exc, BindingError):
                log.error("Executed 'Functions.%s' (Failed): %s", self.function_name, exc)
            else:
                log.error("Executed 'Functions.%s' (Failed): %s: %s", self.function_name, type(exc).__name__, exc,
                          exc_info=exc)  # fmt: skip
            claim.attempts += 1
            if claim.attempts < self.max_attempts:
                return "retry"
            log.error("function %s: blob %s failed %d times; reported on '%s'", self.function_name, path,
                      claim.attempts, POISON_QUEUE)  # fmt: skip
            await self._call(self._report_poison, path, props.etag)
            return "done"
        log.info("Executed 'Functions.%s' (Succeeded)", self.function_name)
        return "done"

    @staticmethod
    def _download(client: Any, etag: str) -> bytes:
        from azure.core import MatchConditions

        return bytes(client.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified).readall())

    def _value(self, data: bytes, path: str, uri: str, properties: dict[str, Any], metadata: dict[str, str]) -> Any:
        return blob_param_value(self.fi, self.fi.trigger, path, data, uri, properties, metadata)

    def _report_poison(self, path: str, etag: str) -> None:
        import base64

        from azure.core.exceptions import ResourceExistsError

        body = json.dumps(
            {
                "Type": "BlobTrigger",
                "FunctionId": self.function_name,
                "BlobType": "BlockBlob",
                "ContainerName": self.container,
                "BlobName": path.split("/", 1)[1],
                "ETag": etag,
            }
        )
        client = queue_service(self.setting).get_queue_client(POISON_QUEUE)
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.send_message(base64.b64encode(body.encode("utf-8")).decode("ascii"))


def create_listener(ctx: HostContext, fi: FunctionInfo) -> BlobListener:
    """The listener of a blob-triggered function (TriggerSetupError: one line saying why not)."""
    setting = setting_name(fi.trigger)
    try:
        container, blob_part = split_blob_path(resolve_settings(str(fi.trigger.get("path") or "")))
        attempts = QueueOptions.from_host_json(ctx.app.settings.raw).max_dequeue_count
        if "{" in container:
            raise BindingDataError("the container part of the path cannot hold {...}")
        path_pattern(blob_part)
    except (ValueError, BindingExpressionError, BindingDataError) as exc:
        raise TriggerSetupError(f"Function '{fi.function_name}' (blobTrigger): {exc}") from None
    return BlobListener(ctx, fi, setting, container, blob_part, attempts)
