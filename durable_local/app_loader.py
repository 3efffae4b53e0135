"""Load a v2-model Function App the way the Python worker does, and index its functions.

``load_app(app_dir)`` applies ``local.settings.json`` ``Values`` to the environment, reads
``host.json``, imports ``function_app`` (``PYTHON_SCRIPT_FILE_NAME`` respected), finds the one
``FunctionRegister`` at module level, calls ``get_functions()`` once and classifies every
function by its trigger. Durable names resolve case-insensitively, as in the extension.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_local.app_env import app_process_env

# Trigger binding type -> our kind.
_KINDS = {
    "orchestrationTrigger": "orchestrator",
    "activityTrigger": "activity",
    "entityTrigger": "entity",
    "httpTrigger": "http",
}
HTTP_ACTIVITY = "BuiltIn::HttpActivity"


class AppLoadError(Exception):
    """The app cannot be indexed; the message names the function and the problem."""


@dataclass
class FunctionInfo:
    function_name: str  # the Functions name (method name or @app.function_name)
    kind: str  # orchestrator | activity | entity | http | other
    durable_name: str  # orchestration / activity / entity name (== function_name unless overridden)
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    user_function: Callable[..., Any]
    is_async: bool

    @property
    def trigger_param(self) -> str:
        return str(self.trigger.get("name"))

    def binding_of_type(self, binding_type: str) -> dict[str, Any] | None:
        return next((b for b in self.bindings if b.get("type") == binding_type), None)


@dataclass
class HostSettings:
    """What the host reads from host.json (+ app settings)."""

    route_prefix: str = "api"
    hub_name: str = "TestHubName"
    max_concurrent_activities: int = 10
    max_concurrent_orchestrations: int = 10
    default_version: str = ""
    # Extended sessions (engine/session.py): on unless host.json turns them off; the bounds
    # come from DURABLE_LOCAL_SESSIONS_MAX / DURABLE_LOCAL_SESSIONS_MAX_MB.
    extended_sessions: bool = True
    session_idle_timeout: float = 30.0
    sessions_max_count: int = 1000
    sessions_max_bytes: int = 256 << 20
    raw: dict[str, Any] = field(default_factory=dict)


def disabled_setting(function_name: str) -> str | None:
    """The name of the app setting that disables ``function_name`` when it is "true" or "1"
    (``AzureWebJobs.<name>.Disabled``, or ``AzureWebJobs_<name>_Disabled`` as Linux hosts
    spell it), or None if no such setting is set. Names compare case-insensitively, as the
    host's configuration does."""
    wanted = {f"azurewebjobs.{function_name}.disabled".lower(), f"azurewebjobs_{function_name}_disabled".lower()}
    for key, value in os.environ.items():
        if key.lower() in wanted and value.strip().lower() in ("true", "1"):
            return key
    return None


@dataclass
class Registry:
    functions: list[FunctionInfo]
    orchestrators: dict[str, FunctionInfo]  # keys lower-cased
    activities: dict[str, FunctionInfo]
    entities: dict[str, FunctionInfo]
    http: list[FunctionInfo]
    # function names disabled by AzureWebJobs.<name>.Disabled: known (an orchestration may name
    # them) but never run; activity() and entity() do not return them
    disabled: frozenset[str] = frozenset()

    @classmethod
    def build(cls, functions: list[FunctionInfo]) -> Registry:
        def index(kind: str) -> dict[str, FunctionInfo]:
            out: dict[str, FunctionInfo] = {}
            for f in functions:
                if f.kind == kind:
                    key = f.durable_name.lower()
                    if key in out:
                        raise AppLoadError(
                            f"Function '{f.function_name}': {kind} name '{f.durable_name}' is already used by "
                            f"'{out[key].function_name}' (names are case-insensitive)"
                        )
                    out[key] = f
            return out

        return cls(
            functions=functions,
            orchestrators=index("orchestrator"),
            activities=index("activity"),
            entities=index("entity"),
            http=[f for f in functions if f.kind == "http"],
            disabled=frozenset(f.function_name for f in functions if disabled_setting(f.function_name)),
        )

    def is_disabled(self, info: FunctionInfo) -> bool:
        return info.function_name in self.disabled

    def orchestrator(self, name: str) -> FunctionInfo | None:
        return self.orchestrators.get(name.lower())

    def activity(self, name: str) -> FunctionInfo | None:
        """The activity to run, None if unknown or disabled."""
        info = self.activities.get(name.lower())
        return None if info is None or self.is_disabled(info) else info

    def entity(self, name: str) -> FunctionInfo | None:
        """The entity to run, None if unknown or disabled."""
        info = self.entities.get(name.lower())
        return None if info is None or self.is_disabled(info) else info

    def entity_exists(self, name: str) -> bool:
        """Known (even if disabled): an orchestration may signal or call it."""
        return name.lower() in self.entities

    def function(self, function_name: str) -> FunctionInfo | None:
        """A function by its Functions name (case-insensitive, as admin routes resolve it)."""
        low = function_name.lower()
        return next((f for f in self.functions if f.function_name.lower() == low), None)

    def activity_exists(self, name: str) -> bool:
        return name == HTTP_ACTIVITY or name.lower() in self.activities


@dataclass
class LoadedApp:
    app_dir: Path
    registry: Registry
    settings: HostSettings
    app_settings: dict[str, str]


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (direction, authLevel); keep their values only."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return getattr(value, "value", value)


def load_local_settings(app_dir: Path, *, apply: bool = True) -> dict[str, str]:
    """Read local.settings.json ``Values``; apply them to os.environ without overriding
    variables that are already set (an explicit environment wins, as with Core Tools)."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise AppLoadError(f"local.settings.json is not valid JSON: {exc}") from None
    values = {str(k): str(v) for k, v in (data.get("Values") or {}).items()}
    if apply:
        for key, value in values.items():
            os.environ.setdefault(key, value)
    return values


def local_http_port(app_dir: Path) -> int | None:
    """``Host.LocalHttpPort`` of local.settings.json, the port `func start` listens on; None if unset."""
    path = app_dir / "local.settings.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig")) if path.exists() else {}
        port = (data.get("Host") or {}).get("LocalHttpPort")
        return None if port is None or port == "" else int(port)
    except (ValueError, TypeError, AttributeError) as exc:
        raise AppLoadError(f"local.settings.json Host.LocalHttpPort must be a port number ({exc})") from None


_INDEX_CACHE: dict[int, list[FunctionInfo]] = {}
_SETTING_REF = re.compile(r"^%([^%]+)%$")


def _resolve_setting(value: Any, default: str) -> str:
    if not isinstance(value, str) or not value:
        return default
    m = _SETTING_REF.match(value)
    if m:
        return os.environ.get(m.group(1)) or default
    return value


def read_host_json(app_dir: Path) -> HostSettings:
    path = app_dir / "host.json"
    if not path.exists():
        return HostSettings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise AppLoadError(f"host.json is not valid JSON: {exc}") from None
    ext = raw.get("extensions") or {}
    http = ext.get("http") or {}
    dt = ext.get("durableTask") or {}
    prefix = http.get("routePrefix", "api")
    default_hub = "TestHubName"
    return HostSettings(
        route_prefix=(prefix if prefix is not None else "api").strip("/"),
        hub_name=_resolve_setting(dt.get("hubName"), default_hub),
        max_concurrent_activities=int(dt.get("maxConcurrentActivityFunctions") or 10),
        max_concurrent_orchestrations=int(dt.get("maxConcurrentOrchestratorFunctions") or 10),
        default_version=str(dt.get("defaultVersion") or ""),
        extended_sessions=_flag(dt, "extendedSessionsEnabled", True),
        session_idle_timeout=_number(dt, "extendedSessionIdleTimeoutInSeconds", 30.0),
        sessions_max_count=int(_number(os.environ, "DURABLE_LOCAL_SESSIONS_MAX", 1000)),
        sessions_max_bytes=int(_number(os.environ, "DURABLE_LOCAL_SESSIONS_MAX_MB", 256) * (1 << 20)),
        raw=raw,
    )


def _flag(section: Any, key: str, default: bool) -> bool:
    value = section.get(key, default)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise AppLoadError(f"host.json durableTask.{key} must be true or false, not {value!r}")
    return value


def _number(section: Any, key: str, default: float) -> float:
    """A non-negative number setting (host.json durableTask key or environment variable)."""
    value = section.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or number < 0:
        where = key if key.isupper() else f"host.json durableTask.{key}"
        raise AppLoadError(f"{where} must be a number of at least 0, not {value!r}")
    return number


def _find_register(module: Any) -> Any:
    import azure.functions as func

    found = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if not found:
        raise AppLoadError(f"{module.__file__}: no FunctionApp / DFApp instance found at module level")
    if len(found) > 1:
        raise AppLoadError(f"{module.__file__}: more than one FunctionApp instance at module level")
    return found[0]


def _check_parameters(info: FunctionInfo) -> None:
    """The worker refuses functions whose parameters don't match their bindings."""
    if info.kind in ("orchestrator", "entity"):
        return  # the SDK wrapper's signature is always handle(context)
    try:
        params = inspect.signature(info.user_function).parameters
    except (TypeError, ValueError):
        return
    names = {b["name"] for b in info.bindings if b.get("name") and b.get("name") != "$return"}
    accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    missing = [n for n in names if n not in params and not accepts_kwargs]
    extra = [
        n
        for n, p in params.items()
        if n not in names
        and n != "context"
        and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if missing or extra:
        raise AppLoadError(
            f"Function '{info.function_name}': parameters {sorted(params)} do not match bindings "
            f"{sorted(names)} (missing parameters: {missing}, parameters without a binding: {extra})"
        )


def index_functions(register: Any) -> list[FunctionInfo]:
    out: list[FunctionInfo] = []
    for fn in register.get_functions():
        name = fn.get_function_name()
        trigger = _plain(fn.get_trigger().get_dict_repr())
        kind = _KINDS.get(trigger.get("type", ""), "other")
        durable = {
            "orchestrator": trigger.get("orchestration"),
            "activity": trigger.get("activity"),
            "entity": trigger.get("entityName"),
        }.get(kind) or name
        uf = fn.get_user_function()
        info = FunctionInfo(
            function_name=name,
            kind=kind,
            durable_name=durable,
            trigger=trigger,
            bindings=[_plain(b.get_dict_repr()) for b in fn.get_bindings()],
            user_function=uf,
            is_async=inspect.iscoroutinefunction(uf),
        )
        if kind == "orchestrator" and durable.startswith("@"):
            raise AppLoadError(f"Function '{name}': orchestrator names must not start with '@'")
        _check_parameters(info)
        out.append(info)
    return out


def _indexed_by_us(module: Any) -> bool:
    if module is None:
        return False
    try:
        return id(_find_register(module)) in _INDEX_CACHE
    except AppLoadError:
        return False


def _module_in(module: Any, app_dir: Path) -> bool:
    """True if ``module`` is the script of the app in ``app_dir`` itself (not of an app in a
    subfolder of it, e.g. a test app inside this repository)."""
    path: str | None = getattr(module, "__file__", None)
    if not path:
        return False
    return Path(path).resolve().parent == app_dir


def _forget_app_modules(app_dir: Path, module_name: str) -> None:
    """Drop the app's modules (function_app and the packages it imports from app_dir), but
    never the host itself or test code that happens to live in the same folder."""
    keep = {"durable_local", "tests", "bench", "scripts"}
    sys.modules.pop(module_name, None)
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None)
        if not path or name.split(".")[0] in keep or name in ("__main__", "__mp_main__"):
            continue  # (the running program: a worker process's main module is its parent's)
        resolved = Path(path).resolve()
        if resolved.is_relative_to(app_dir) and ".venv" not in resolved.relative_to(app_dir).parts:
            del sys.modules[name]


def load_app(app_dir: Path | str, *, apply_settings: bool = True) -> LoadedApp:
    """Import and index the app in ``app_dir``; raise AppLoadError with a readable message."""
    app_dir = Path(app_dir).resolve()
    app_settings = load_local_settings(app_dir, apply=apply_settings)
    settings = read_host_json(app_dir)
    script = os.environ.get("PYTHON_SCRIPT_FILE_NAME", "function_app.py")
    module_name = Path(script).stem
    if not (app_dir / script).exists():
        raise AppLoadError(f"{app_dir / script} not found (is --app-dir the Function App folder?)")
    # as in the worker: the app's root is the working directory and first on sys.path while
    # it is imported and indexed (module-level code may open files by relative path)
    with app_process_env(app_dir):
        register = _import_register(app_dir, script, module_name)
        registry = Registry.build(_index_once(register))
    return LoadedApp(app_dir=app_dir, registry=registry, settings=settings, app_settings=app_settings)


def _import_register(app_dir: Path, script: str, module_name: str) -> Any:
    try:
        cached = sys.modules.get(module_name)
        if not _indexed_by_us(cached) or not _module_in(cached, app_dir):
            # Like a fresh worker process: import the app's own modules anew. An app object
            # indexed elsewhere in this process (or another app with the same module name)
            # cannot be reused, since get_functions() may only run once per app object.
            _forget_app_modules(app_dir, module_name)
        module = importlib.import_module(module_name)
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" ({tb[-1].filename}:{tb[-1].lineno})" if tb else ""
        raise AppLoadError(f"importing {script} failed: {type(exc).__name__}: {exc}{where}") from exc
    return _find_register(module)


def _index_once(register: Any) -> list[FunctionInfo]:
    try:
        # get_functions() may only run once per app object: tests load the same app repeatedly
        functions = _INDEX_CACHE.get(id(register))
        if functions is None:
            functions = _INDEX_CACHE[id(register)] = index_functions(register)
    except AppLoadError:
        raise
    except Exception as exc:
        raise AppLoadError(f"indexing functions failed: {type(exc).__name__}: {exc}") from exc
    return functions
