"""The engine's view of a loaded app: how it finds orchestrators, entities and activities by name.

Shared by the in-process dispatcher and the worker processes, which each build their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from durable_local.app_loader import Registry
from durable_local.engine.options import EngineOptions
from durable_local.runtime import invoke


def engine_options(registry: Registry, default_version: str = "") -> EngineOptions:
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
        default_version=default_version,
    )
