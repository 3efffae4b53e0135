"""Queue triggers on Azure Storage queues (Azurite or a real account), as the host runs them.

One listener per function polls its queue through the function's ``connection`` setting:
it receives up to ``batchSize`` messages under a lease (visibility timeout), runs the
function for each, deletes a message only after the function succeeded, and on failure makes
it visible again after ``visibilityTimeout``; a message that failed ``maxDequeueCount`` times
(or arrives already dequeued more often, after a crash) goes to ``<queue>-poison``. A new
batch is fetched when at most ``newBatchThreshold`` messages are still running. An empty
queue backs the polling off exponentially up to ``maxPollingInterval``.

Settings come from host.json ``extensions.queues`` with the host's defaults, except
``maxPollingInterval``: 2 s here instead of the host's 1 minute (a local run should react to
a message in seconds). While a function runs its lease is renewed every half lease; the lease
is ``DURABLE_LOCAL_QUEUE_LEASE_SECONDS`` (default 30 s), so a message whose host was killed
is seen again at most that long after the last renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from azure.functions.queue import QueueMessage  # the worker's type: with dequeue count and times

from durable_local.app_loader import FunctionInfo
from durable_local.bindings import BindingError, invoke_function
from durable_local.bindings.checks import storage_problem
from durable_local.bindings.connections import describe_error, queue_service, setting_name
from durable_local.bindings.expressions import BindingExpressionError, resolve_settings
from durable_local.bindings.invocation import param_annotation, queue_encoding_of
from durable_local.bindings.storage_io import BindingDataError, check_queue_name, decode_message
from durable_local.runtime.context import HostContext

from .manager import TriggerSetupError

log = logging.getLogger("durable_local.triggers.queue")

LEASE_SETTING = "DURABLE_LOCAL_QUEUE_LEASE_SECONDS"
MIN_POLL_SECONDS = 0.1
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def parse_timespan(value: Any, default: float) -> float:
    """Seconds of a host.json TimeSpan (``"00:00:30"``, ``"1.00:00:00"``) or of milliseconds."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    m = _TIMESPAN.match(str(value).strip())
    if not m:
        raise ValueError(f"'{value}' is not a TimeSpan like 00:00:30")
    days, hours, minutes, seconds = m.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 2.0
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, raw: dict[str, Any]) -> QueueOptions:
        """host.json ``extensions.queues``; ValueError names the bad property."""
        queues = (raw.get("extensions") or {}).get("queues") or {}

        def number(key: str, default: int, low: int, high: int) -> int:
            value = queues.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"host.json extensions.queues.{key} must be a whole number from {low} to {high}")
            return value

        batch = number("batchSize", 16, 1, 32)
        encoding = queue_encoding_of(raw)
        if encoding not in ("base64", "none"):
            raise ValueError("host.json extensions.queues.messageEncoding must be 'base64' or 'none'")
        try:
            visibility = parse_timespan(queues.get("visibilityTimeout"), 0.0)
            polling = parse_timespan(queues.get("maxPollingInterval"), 2.0)
        except ValueError as exc:
            raise ValueError(f"host.json extensions.queues: {exc}") from None
        return cls(
            batch_size=batch,
            new_batch_threshold=number("newBatchThreshold", batch // 2, 0, 10_000),
            max_dequeue_count=number("maxDequeueCount", 5, 1, 10_000),
            visibility_timeout=visibility,
            max_polling_interval=max(MIN_POLL_SECONDS, polling),
            message_encoding=encoding,
        )


def lease_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get(LEASE_SETTING) or 30.0))
    except ValueError:
        return 30.0


def trigger_data(msg: Any, text: str) -> dict[str, Any]:
    """Binding data of a queue message: the host's names, plus a JSON object body's properties."""
    data: dict[str, Any] = {}
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        data.update(body)
    data.update(
        {
            "QueueTrigger": text,
            "Id": msg.id,
            "DequeueCount": msg.dequeue_count,
            "PopReceipt": msg.pop_receipt,
            "InsertionTime": msg.inserted_on,
            "ExpirationTime": msg.expires_on,
            "NextVisibleTime": msg.next_visible_on,
        }
    )
    return data


def trigger_value(fi: FunctionInfo, msg: Any, body: bytes) -> Any:
    """What the function's trigger parameter receives: ``func.QueueMessage``, or str / bytes."""
    hint = param_annotation(fi, fi.trigger_param)
    if hint is str:
        return body.decode("utf-8")
    if hint is bytes:
        return body
    return QueueMessage(
        id=msg.id,
        body=body,
        dequeue_count=msg.dequeue_count,
        expiration_time=msg.expires_on,
        insertion_time=msg.inserted_on,
        time_next_visible=msg.next_visible_on,
        pop_receipt=msg.pop_receipt,
    )


class QueueListener:
    """Polls one queue for one function."""

    def __init__(self, ctx: HostContext, fi: FunctionInfo, setting: str, queue: str, options: QueueOptions) -> None:
        self.ctx = ctx
        self.fi = fi
        self.function_name = fi.function_name
        self.setting = setting
        self.queue = queue
        self.client: Any = None  # QueueClient of the trigger queue, once storage answered
        self.poison: Any = None  # QueueClient of <queue>-poison
        self.options = options
        self.lease = lease_seconds()
        self._io = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"queue-{queue}")
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, partial(fn, *args, **kwargs))

    async def start(self) -> None:
        problem = await self._call(storage_problem, self.setting, "queue")
        if problem is not None:
            raise TriggerSetupError(
                f"Function '{self.function_name}' (queueTrigger, connection '{self.setting}'): {problem}"
            )
        service = queue_service(self.setting)
        self.client = service.get_queue_client(self.queue)
        self.poison = service.get_queue_client(f"{self.queue}-poison")
        self._task = asyncio.create_task(self._poll(), name=f"queue:{self.function_name}")
        log.info("function %s: listening on queue '%s'", self.function_name, self.queue)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:  # finish in-flight invocations (their messages are then deleted)
            await asyncio.gather(*self._running, return_exceptions=True)
        self._io.shutdown(wait=False)

    def notify(self) -> None:
        """Something was written to this queue by this host: poll now."""
        self._wake.set()

    async def _poll(self) -> None:
        delay = MIN_POLL_SECONDS
        while not self._stopping:
            if len(self._running) > self.options.new_batch_threshold:
                self._wake.clear()
                await self._wake.wait()  # an invocation ending wakes us
                continue
            try:
                messages = await self._call(self._receive)
            except Exception as exc:
                log.warning("function %s: receiving from '%s' failed: %s", self.function_name, self.client.queue_name,
                            describe_error(exc))  # fmt: skip
                messages = []
                delay = self.options.max_polling_interval
            if messages:
                delay = MIN_POLL_SECONDS
                for msg in messages:
                    task = asyncio.create_task(self._process(msg))
                    self._running.add(task)
                    task.add_done_callback(self._done)
                continue
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            delay = min(delay * 2, self.options.max_polling_interval)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    def _receive(self) -> list[Any]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            pages = self.client.receive_messages(
                messages_per_page=self.options.batch_size,
                max_messages=self.options.batch_size,
                visibility_timeout=int(self.lease),
            )
            return list(pages)
        except ResourceNotFoundError:  # the queue does not exist yet: the host creates it
            with contextlib.suppress(Exception):
                self.client.create_queue()
            return []

    async def _process(self, msg: Any) -> None:
        name = self.function_name
        if msg.dequeue_count > self.options.max_dequeue_count:  # a crash after the last try
            await self._to_poison(msg, f"dequeued {msg.dequeue_count} times")
            return
        try:
            body = decode_message(msg.content, self.options.message_encoding)
            text = body.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            await self._to_poison(msg, f"not valid {self.options.message_encoding} text")
            return
        renewal = asyncio.create_task(self._renew(msg))
        try:
            log.info("Executing 'Functions.%s' (queue message %s, dequeue count %d)", name, msg.id, msg.dequeue_count)
            await invoke_function(self.ctx, self.fi, trigger_value(self.fi, msg, body), trigger_data(msg, text))
        except Exception as exc:
            renewal.cancel()
            if isinstance(exc, BindingError):
                log.error("Executed 'Functions.%s' (Failed): %s", name, exc)
            else:
                log.error("Executed 'Functions.%s' (Failed): %s: %s", name, type(exc).__name__, exc, exc_info=exc)
            await self._failed(msg)
            return
        renewal.cancel()
        log.info("Executed 'Functions.%s' (Succeeded)", name)
        try:
            await self._call(self.client.delete_message, msg.id, msg.pop_receipt)
        except Exception as exc:  # the lease was lost: the message will run again (at-least-once)
            log.warning("function %s: could not delete message %s: %s", name, msg.id, describe_error(exc))

    async def _renew(self, msg: Any) -> None:
        """Keep the message invisible while the function runs (the pop receipt changes each time)."""
        while True:
            await asyncio.sleep(self.lease / 2)
            try:
                receipt = await self._call(
                    self.client.update_message, msg.id, msg.pop_receipt, visibility_timeout=int(self.lease)
                )
                msg.pop_receipt = receipt.pop_receipt
            except Exception as exc:
                log.warning("function %s: could not renew message %s: %s", self.function_name, msg.id,
                            describe_error(exc))  # fmt: skip
                return

    async def _failed(self, msg: Any) -> None:
        if msg.dequeue_count >= self.options.max_dequeue_count:
            await self._to_poison(msg, f"failed {msg.dequeue_count} times")
            return
        retry_in = int(self.options.visibility_timeout)
        with contextlib.suppress(Exception):  # a lost lease: the message reappears by itself
            await self._call(self.client.update_message, msg.id, msg.pop_receipt, visibility_timeout=retry_in)

    async def _to_poison(self, msg: Any, why: str) -> None:
        """Copy the message as it is to ``<queue>-poison``, then delete it from the queue."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        def move() -> None:
            try:
                self.poison.send_message(msg.content)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):
                    self.poison.create_queue()
                self.poison.send_message(msg.content)
            self.client.delete_message(msg.id, msg.pop_receipt)

        log.error("function %s: message %s %s; moved to '%s'", self.function_name, msg.id, why, self.poison.queue_name)
        try:
            await self._call(move)
        except Exception as exc:
            log.error("function %s: could not move message %s to the poison queue: %s", self.function_name, msg.id,
                      describe_error(exc))  # fmt: skip


def create_listener(ctx: HostContext, fi: FunctionInfo) -> QueueListener:
    """The listener of a queue-triggered function (TriggerSetupError: one line saying why not)."""
    setting = setting_name(fi.trigger)
    try:
        options = QueueOptions.from_host_json(ctx.app.settings.raw)
        queue = check_queue_name(resolve_settings(str(fi.trigger.get("queueName") or "")))
    except (ValueError, BindingExpressionError, BindingDataError) as exc:
        raise TriggerSetupError(f"Function '{fi.function_name}' (queueTrigger): {exc}") from None
    return QueueListener(ctx, fi, setting, queue, options)
