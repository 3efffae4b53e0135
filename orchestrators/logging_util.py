"""Replay-safe logging for orchestrators.

An orchestrator function runs again from the start on every episode (replay), so a plain
``logging`` call in it is repeated once per replay. ``replay_safe_logger(context)`` returns a
logger whose calls do nothing while ``context.is_replaying`` is true, so each message appears
once per real step, on any host (Azure, Core Tools, durable_local)::

    log = replay_safe_logger(context)
    log.info("reserving %d line(s)", len(lines))
    outcomes = yield from entity_fan_out(context, "reserve", lines)
    log.info("reserved: %s", outcomes)          # logged once, after the step really ran

Records carry ``instance_id`` and ``parent_instance_id`` (``extra``), which local hosts and log
pipelines can use to correlate an order's lines. Standard library only: no dependency on any
host, so it is safe in the deployed app.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, Protocol

DEFAULT_LOGGER = "orders.orchestrators"


class _ReplayAware(Protocol):
    @property
    def is_replaying(self) -> bool: ...

    @property
    def instance_id(self) -> str: ...


class ReplaySafeLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A LoggerAdapter that drops records while the orchestration is replaying."""

    def __init__(self, logger: logging.Logger, context: _ReplayAware) -> None:
        super().__init__(logger, {})
        self.context = context

    def isEnabledFor(self, level: int) -> bool:
        return not self.context.is_replaying and self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("instance_id", self.context.instance_id)
        extra.setdefault("parent_instance_id", getattr(self.context, "parent_instance_id", None))
        kwargs["extra"] = extra
        return msg, kwargs


def replay_safe_logger(context: _ReplayAware, name: str = DEFAULT_LOGGER) -> ReplaySafeLogger:
    """A logger for ``context``'s orchestrator that is silent during replay."""
    return ReplaySafeLogger(logging.getLogger(name), context)
