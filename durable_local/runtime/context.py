"""The host context: everything the HTTP layer and the dispatchers share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from durable_local.app_loader import LoadedApp
from durable_local.runtime.clock import Clock
from durable_local.store.base import Store


@dataclass
class HostContext:
    app: LoadedApp
    store: Store
    clock: Clock
    # called after anything is enqueued so dispatchers wake without polling
    notify: Callable[[], None] = lambda: None
    # keys for the opt-in key-enforcing mode (None = auth off, as with Core Tools)
    master_key: str | None = None
    system_key: str | None = None
    function_keys: dict[str, str] = field(default_factory=dict)
    # the listening port once the HTTP server runs (durable client bindings outside HTTP calls)
    port: int = 0

    @property
    def hub_name(self) -> str:
        return self.app.settings.hub_name

    @property
    def route_prefix(self) -> str:
        return self.app.settings.route_prefix
