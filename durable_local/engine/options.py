"""Configuration the runtime hands to the engine: how to find user functions, and the
extension settings that change what the SDK sees (schema version, timer limits, version).

The engine never imports the app; it only calls these lookups, so tests and the runtime
can plug in any registry (see :func:`options_from_functions` for the usual DFApp case).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .session import SessionCache

HTTP_ACTIVITY = "BuiltIn::HttpActivity"

Handle = Callable[[str], Any]


class EngineError(Exception):
    """The engine could not produce a result; nothing must be committed and the runtime
    should abandon the work item so it is retried (e.g. an entity function raised)."""

    code = "engine_error"


def _never(_name: str) -> Any:
    return None


@dataclass
class EngineOptions:
    """Lookups and host.json-equivalent settings.

    ``resolve_orchestrator(name)`` is case-insensitive and returns the SDK handle (called with
    the context JSON text, returns the OrchestratorState JSON text or raises) or None.
    ``resolve_entity(name)`` takes the lower-case entity name. ``activity_exists`` is
    case-insensitive; ``BuiltIn::HttpActivity`` always exists (checked by the engine).
    """

    resolve_orchestrator: Callable[[str], Handle | None] = _never
    resolve_entity: Callable[[str], Handle | None] = _never
    activity_exists: Callable[[str], bool] = lambda _n: False
    # Optional overrides; by default derived from resolve_*.
    orchestrator_exists: Callable[[str], bool] | None = None
    entity_exists: Callable[[str], bool] | None = None
    # Maps the name an orchestrator used to the registered activity name for the work item
    # (TaskScheduled keeps the orchestrator's spelling, as DTFx does).
    canonical_activity_name: Callable[[str], str] | None = None
    # kind in {"activity", "orchestrator", "entity"} -> registered names, for error texts.
    known_names: Callable[[str], Sequence[str]] | None = None
    default_version: str = ""  # host.json durableTask.defaultVersion
    # Azure Storage values (PROTOCOL §2.1); "00:00:00" disables SDK long-timer splitting.
    max_short_timer: str = "6.00:00:00"
    long_timer_interval: str = "3.00:00:00"
    # Advertised replay schema: upperSchemaVersion 1 (V2) + upperSchemaVersionNew 2 (V3).
    upper_schema_version: int | None = 1
    upper_schema_version_new: int | None = 2
    http_async_sleep_ms: int = 30000
    # Extended sessions (session.py); None = every episode replays the whole history.
    sessions: SessionCache | None = None

    def has_orchestrator(self, name: str) -> bool:
        if self.orchestrator_exists is not None:
            return self.orchestrator_exists(name)
        return self.resolve_orchestrator(name) is not None

    def has_entity(self, name: str) -> bool:
        if self.entity_exists is not None:
            return self.entity_exists(name.lower())
        return self.resolve_entity(name.lower()) is not None

    def has_activity(self, name: str) -> bool:
        return name.lower() == HTTP_ACTIVITY.lower() or self.activity_exists(name)

    def activity_name(self, name: str) -> str:
        if self.canonical_activity_name is None or name.lower() == HTTP_ACTIVITY.lower():
            return name
        return self.canonical_activity_name(name)

    def names(self, kind: str) -> Sequence[str]:
        return self.known_names(kind) if self.known_names is not None else ()

    def missing_function_message(self, kind: str, name: str) -> str:
        """The extension's text for a call to an unknown or disabled function (PROTOCOL §1.2)."""
        known = ", ".join(f"'{n}'" for n in self.names(kind))
        return (
            f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. "
            f"Additional info: The following are the known {kind} functions: {known}."
        )


@dataclass
class FunctionRegistry:
    """Durable functions of a v2 app, indexed by durable name (lower-case keys)."""

    orchestrators: dict[str, tuple[str, Handle]] = field(default_factory=dict)
    activities: dict[str, tuple[str, Any, str]] = field(default_factory=dict)  # name, fn, binding
    entities: dict[str, tuple[str, Handle]] = field(default_factory=dict)

    def options(self, **overrides: Any) -> EngineOptions:
        def resolve_orch(n: str) -> Handle | None:
            hit = self.orchestrators.get(n.lower())
            return hit[1] if hit else None

        def resolve_ent(n: str) -> Handle | None:
            hit = self.entities.get(n.lower())
            return hit[1] if hit else None

        def canonical(n: str) -> str:
            hit = self.activities.get(n.lower())
            return hit[0] if hit else n

        def known(kind: str) -> Sequence[str]:
            tables: dict[str, dict[str, tuple[Any, ...]]] = {
                "orchestrator": self.orchestrators,
                "activity": self.activities,
                "entity": self.entities,
            }
            return [v[0] for v in tables.get(kind, {}).values()]

        kwargs: dict[str, Any] = {
            "resolve_orchestrator": resolve_orch,
            "resolve_entity": resolve_ent,
            "activity_exists": lambda n: n.lower() in self.activities,
            "canonical_activity_name": canonical,
            "known_names": known,
        }
        kwargs.update(overrides)
        return EngineOptions(**kwargs)


def registry_from_functions(functions: Iterable[Any]) -> FunctionRegistry:
    """Index the result of ``DFApp.get_functions()`` (call that only once per app object).

    Durable names follow PROTOCOL §1.2: the trigger's ``orchestration``/``activity``/
    ``entityName`` override, else the function name; lookups are case-insensitive.
    """
    reg = FunctionRegistry()
    for fn in functions:
        trigger = fn.get_trigger()
        kind = trigger.get_binding_name()
        spec = trigger.get_dict_repr()
        handle = fn.get_user_function()
        if kind == "orchestrationTrigger":
            name = spec.get("orchestration") or fn.get_function_name()
            reg.orchestrators[name.lower()] = (name, handle)
        elif kind == "activityTrigger":
            name = spec.get("activity") or fn.get_function_name()
            reg.activities[name.lower()] = (name, handle, spec.get("name", ""))
        elif kind == "entityTrigger":
            name = (spec.get("entityName") or fn.get_function_name()).lower()
            reg.entities[name] = (name, handle)
    return reg
