"""One invocation of a user function with its bindings, for every function kind.

``prepare()`` builds the keyword arguments the Python worker would pass: the trigger value,
input bindings read from storage (``blob``, ``table``), ``durableClient`` JSON, a
``func.Out`` per output parameter and ``context``. ``finish()`` writes the outputs (``Out``
parameters and ``$return``) and runs only after the function returned: a failing function
writes nothing, as in the host. Both do blocking storage I/O: call them off the event loop.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import typing
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import azure.functions as func
from azure.functions.blob import InputStream as BlobInputStream

from durable_local.app_loader import FunctionInfo
from durable_local.http.payloads import client_binding

from . import storage_io
from .connections import StorageConnectionError, describe_error, setting_name
from .expressions import BindingExpressionError, resolve

OUT_DIRECTIONS = (1, "OUT", "out")
# binding types this host runs, beside the triggers (the trigger manager owns those)
STORAGE_BINDINGS = {"queue": "queue", "blob": "blob", "table": "table"}
HOST_BINDINGS = {"durableClient", "http"}
QUEUE_ENCODING_DEFAULT = "base64"


class BindingError(Exception):
    """A binding cannot be prepared or written; the message names the function and the binding."""


@dataclass(frozen=True)
class ClientEnv:
    """What a ``durableClient`` binding needs, as plain data (it crosses into worker processes)."""

    origin: str  # e.g. http://127.0.0.1:7071 (management URLs)
    hub_name: str
    rpc_base_url: str
    system_key: str | None = None
    queue_encoding: str = QUEUE_ENCODING_DEFAULT  # host.json extensions.queues.messageEncoding


def durable_client_json(env: ClientEnv, binding: dict[str, Any]) -> str:
    """The ``durableClient`` value (binding JSON string) for ``env``."""
    data = client_binding(
        env.origin,
        env.hub_name,
        env.rpc_base_url,
        task_hub=binding.get("taskHub") or None,
        connection_name=binding.get("connectionName") or None,
        system_key=env.system_key,
    )
    return json.dumps(data)


class FunctionContext(func.Context):
    """The ``context`` argument (``func.Context``) for one invocation."""

    def __init__(self, function_name: str, function_directory: str = "") -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._tls = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._tls

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class OutValue(func.Out):
    """The ``func.Out`` the function sets; written by ``finish()`` once the function succeeded."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


@dataclass
class Invocation:
    fi: FunctionInfo
    kwargs: dict[str, Any]
    trigger_data: dict[str, Any]
    outputs: list[tuple[dict[str, Any], OutValue | None]] = field(default_factory=list)  # None = $return
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def is_output(binding: dict[str, Any]) -> bool:
    return binding.get("direction") in OUT_DIRECTIONS


def queue_encoding_of(host_json: dict[str, Any]) -> str:
    """host.json ``extensions.queues.messageEncoding`` (base64 | none), lower-cased."""
    queues = (host_json.get("extensions") or {}).get("queues") or {}
    return str(queues.get("messageEncoding") or QUEUE_ENCODING_DEFAULT).lower()


def has_extra_bindings(fi: FunctionInfo) -> bool:
    """Whether ``fi`` has bindings besides its trigger (activities without any take a fast path)."""
    return any(b.get("name") != fi.trigger_param for b in fi.bindings)


def reads_storage(fi: FunctionInfo) -> bool:
    """Whether preparing ``fi`` reads storage (input bindings): then it runs off the event loop."""
    return any(b.get("type") in STORAGE_BINDINGS and not is_output(b) for b in fi.bindings)


@functools.lru_cache(maxsize=1024)
def _annotations(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        return dict(getattr(fn, "__annotations__", {}) or {})


def param_annotation(fi: FunctionInfo, name: str) -> Any:
    """The resolved annotation of parameter ``name`` of ``fi`` (None when it has none)."""
    return _annotations(fi.user_function).get(name)


@functools.lru_cache(maxsize=1024)
def accepts_context(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "context" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def is_trigger(fi: FunctionInfo, binding: dict[str, Any]) -> bool:
    return binding.get("name") == fi.trigger_param and binding.get("type") == fi.trigger.get("type")


def binding_problem(fi: FunctionInfo, binding: dict[str, Any]) -> str | None:
    """Why this host cannot serve a non-trigger binding of ``fi`` (None when it can)."""
    btype = str(binding.get("type") or "")
    if is_trigger(fi, binding):
        return None
    if btype in HOST_BINDINGS or btype in STORAGE_BINDINGS:
        return None
    return f"binding '{binding.get('name')}' has type '{btype}', which this host does not run"


def _fail(fi: FunctionInfo, binding: dict[str, Any], why: str) -> BindingError:
    what = f"binding '{binding.get('name')}' ({binding.get('type')})"
    return BindingError(f"Function '{fi.function_name}': {what}: {why}")


def _resolver(inv: Invocation) -> Any:
    return lambda text: resolve(str(text), inv.trigger_data, inv.now)


def blob_param_value(fi: FunctionInfo, binding: dict[str, Any], path: str, data: bytes, uri: str,
                     properties: dict[str, Any], metadata: dict[str, str] | None = None) -> Any:
    """A blob as the parameter of ``binding`` asks for it: ``str``, ``bytes`` or a readable stream.

    Shared by blob inputs, blob triggers and admin invocations of blob triggers, so the three
    agree on the annotation and ``dataType`` rules.
    """
    hint = param_annotation(fi, binding["name"])
    if hint is str or binding.get("dataType") == "string":
        return data.decode("utf-8")
    if hint is bytes or (binding.get("dataType") == "binary" and hint is not func.InputStream):
        return data
    # the concrete stream: `func.InputStream` is the abstract interface, whose instances read nothing
    return BlobInputStream(data=data, name=path, uri=uri, length=len(data), blob_properties=properties,
                           metadata=metadata)


def _blob_value(fi: FunctionInfo, binding: dict[str, Any], found: tuple[bytes, dict[str, Any], str] | None) -> Any:
    if found is None:
        return None
    data, properties, uri = found
    return blob_param_value(fi, binding, binding.get("path") or "", data, uri, properties)


def _read_input(inv: Invocation, binding: dict[str, Any]) -> Any:
    btype = binding.get("type")
    setting = setting_name(binding)
    res = _resolver(inv)
    if btype == "blob":
        path = res(binding.get("path") or "")
        return _blob_value(inv.fi, {**binding, "path": path}, storage_io.read_blob(setting, path))
    if btype == "table":
        return storage_io.read_table(setting, res(binding.get("tableName") or ""), binding, res)
    raise storage_io.BindingDataError(f"type '{btype}' cannot be an input binding")


def prepare(
    fi: FunctionInfo,
    trigger_value: Any,
    trigger_data: dict[str, Any],
    env: ClientEnv | None,
    *,
    function_directory: str = "",
    skip_types: tuple[str, ...] = (),
) -> Invocation:
    """Keyword arguments for one call of ``fi`` (reads input bindings: blocking I/O).

    ``skip_types``: output binding types the caller handles itself (``http`` for HTTP triggers)."""
    inv = Invocation(fi=fi, kwargs={}, trigger_data=dict(trigger_data))
    for b in fi.bindings:
        name = b.get("name")
        if not name:
            continue
        btype = str(b.get("type") or "")
        if name == fi.trigger_param and not is_output(b):
            inv.kwargs[name] = trigger_value
            continue
        if btype == "durableClient":
            if env is None:
                raise _fail(fi, b, "no durable client is available in this host")
            inv.kwargs[name] = durable_client_json(env, b)
            continue
        problem = binding_problem(fi, b)
        if problem is not None:
            raise BindingError(f"Function '{fi.function_name}': {problem}")
        if is_output(b):
            if btype in skip_types:
                continue
            out = None if name == "$return" else OutValue()
            if out is not None:
                inv.kwargs[name] = out
            inv.outputs.append((b, out))
            continue
        try:
            inv.kwargs[name] = _read_input(inv, b)
        except (BindingExpressionError, StorageConnectionError, storage_io.BindingDataError) as exc:
            raise _fail(fi, b, str(exc)) from None
        except Exception as exc:  # storage answered with an error
            raise _fail(fi, b, f"reading failed: {describe_error(exc)}") from None
    if "context" not in inv.kwargs and accepts_context(fi.user_function):
        inv.kwargs["context"] = FunctionContext(fi.function_name, function_directory)
    return inv


def _as_bytes(value: Any) -> bytes:
    if callable(getattr(value, "read", None)):
        value = value.read()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, func.QueueMessage) or hasattr(value, "get_body"):
        return bytes(value.get_body())
    return json.dumps(value).encode("utf-8")  # dict / number: JSON, as the host serializes a POCO


def _queue_bodies(value: Any) -> list[bytes]:
    if isinstance(value, (str, bytes, bytearray, dict)) or hasattr(value, "get_body"):
        return [_as_bytes(value)]
    if isinstance(value, (list, tuple)):
        return [_as_bytes(v) for v in value]
    return [_as_bytes(value)]


def _entities(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, (str, bytes, bytearray)):
        value = json.loads(value)
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _write(inv: Invocation, binding: dict[str, Any], value: Any, queue_encoding: str) -> None:
    btype = binding.get("type")
    setting = setting_name(binding)
    res = _resolver(inv)
    if btype == "queue":
        storage_io.send_messages(setting, res(binding.get("queueName") or ""), _queue_bodies(value), queue_encoding)
    elif btype == "blob":
        storage_io.write_blob(setting, res(binding.get("path") or ""), _as_bytes(value))
    elif btype == "table":
        storage_io.write_entities(setting, res(binding.get("tableName") or ""), _entities(value))


def finish(inv: Invocation, result: Any, queue_encoding: str = QUEUE_ENCODING_DEFAULT) -> None:
    """Write every output binding that got a value (None writes nothing, as in the host)."""
    for binding, out in inv.outputs:
        value = result if out is None else out.get()
        if value is None:
            continue
        try:
            _write(inv, binding, value, queue_encoding)
        except (BindingExpressionError, StorageConnectionError, storage_io.BindingDataError) as exc:
            raise _fail(inv.fi, binding, str(exc)) from None
        except ValueError as exc:  # e.g. table output text that is not JSON
            raise _fail(inv.fi, binding, f"the value cannot be written: {exc}") from None
        except Exception as exc:
            raise _fail(inv.fi, binding, f"writing failed: {describe_error(exc)}") from None
