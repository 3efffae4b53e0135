"""The engine's view of a loaded app: how it finds orchestrators, entities and activities by name.

Shared by the in-process dispatcher and the worker processes, which each build their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from durable_local.app_loader import HostSettings, Registry
from durable_local.engine import sdk_timestamps
from durable_local.engine.options import EngineOptions
from durable_local.engine.session_guard import make_sessions
from durable_local.runtime import invoke


def engine_options(registry: Registry, settings: HostSettings | None = None) -> EngineOptions:
    """Lookups into the app, and its host.json settings with the extended-session cache they
    ask for (every process that runs episodes has its own)."""
    settings = settings or HostSettings()
    sdk_timestamps.install()  # every process that replays: the SDK parses host timestamps fast

    def resolve_orchestrator(name: str) -> Callable[[str], Any] | None:
        info = registry.orchestrator(name)
        return invoke.orchestrator_handle(info) if info else None

    def resolve_entity(name: str) -> Callable[[str], Any] | None:
        info = registry.entity(name)
        return invoke.entity_handle(info) if info else None

    def known_names(kind: str) -> list[str]:
        table = {"activity": registry.activities, "orchestrator": registry.orchestrators, "entity": registry.entities}
        return sorted(f.durable_name for f in table.get(kind, {}).values())

    return EngineOptions(
        resolve_orchestrator=resolve_orchestrator,
        resolve_entity=resolve_entity,
        activity_exists=registry.activity_exists,  # disabled ones too: their calls fail as tasks
        entity_exists=registry.entity_exists,  # disabled ones too: their requests get errors
        known_names=known_names,
        default_version=settings.default_version,
        sessions=make_sessions(
            settings.extended_sessions,
            settings.session_idle_timeout,
            settings.sessions_max_count,
            settings.sessions_max_bytes,
        ),
    )
