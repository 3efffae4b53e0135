"""Deterministic helpers shared by orchestrators (generators used with ``yield from``)."""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from domain.models import ApprovalResponse

APPROVAL_EVENT = "ApprovalResponse"
INVENTORY_ENTITY = "InventoryEntity"
DEFAULT_APPROVAL_TIMEOUT_HOURS = 72

Line = tuple[str, int]


def set_step(context: df.DurableOrchestrationContext, step: str, **extra: Any) -> None:
    """Publish progress as custom status ``{"step": ..., ...}``."""
    context.set_custom_status({"step": step, **extra})


def step_key(context: df.DurableOrchestrationContext, step: str) -> str:
    """Idempotency key of a side effect: instance id + step."""
    return f"{context.instance_id}:{step}"


def error_summary(exc: BaseException, limit: int = 500) -> str:
    """First part of a task failure (the SDK appends the host's long ``Details`` after `` \\n ``)."""
    return str(exc).split(" \n ", 1)[0].strip()[:limit]


def inventory(sku: str) -> df.EntityId:
    """The InventoryEntity instance of a SKU."""
    return df.EntityId(INVENTORY_ENTITY, sku)


def settle(context: df.DurableOrchestrationContext, tasks: Sequence[Any]) -> Generator[Any, Any, list]:
    """Fan in ``tasks`` and return ``[(ok, value_or_exception), ...]`` even if some fail."""
    if not tasks:
        return []
    try:
        results = yield context.task_all(list(tasks))
        return [(True, value) for value in results]
    except Exception:  # a child failed; look at each one to know which
        outcomes: list[tuple[bool, Any]] = []
        for task in tasks:
            try:
                outcomes.append((True, (yield task)))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes


def entity_fan_out(
    context: df.DurableOrchestrationContext, operation: str, lines: Sequence[Line]
) -> Generator[Any, Any, list]:
    """Call ``operation(quantity)`` on every line's InventoryEntity in parallel; settled outcomes."""
    tasks = [context.call_entity(inventory(sku), operation, quantity) for sku, quantity in lines]
    outcomes = yield from settle(context, tasks)
    return outcomes


def parse_approval(raw: Any) -> ApprovalResponse | None:
    """Accept the event payload as a dict (HTTP API) or JSON text (Python client double-encodes)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    try:
        return ApprovalResponse.model_validate(raw)
    except ValidationError:
        return None


def wait_for_approval(
    context: df.DurableOrchestrationContext, timeout_hours: float
) -> Generator[Any, Any, tuple[str, ApprovalResponse | None]]:
    """Race the ``ApprovalResponse`` event against a durable timer.

    Returns ``("approved" | "rejected", response)`` or ``("timeout", None)``. An invalid payload
    is ignored and the wait goes on against the same deadline; the timer is cancelled when a valid
    event wins.
    """
    deadline = context.current_utc_datetime + timedelta(hours=timeout_hours)
    timer = context.create_timer(deadline)
    while True:
        event = context.wait_for_external_event(APPROVAL_EVENT)
        winner = yield context.task_any([event, timer])
        if winner == timer:
            return "timeout", None
        response = parse_approval(event.result)
        if response is not None:
            timer.cancel()
            return ("approved" if response.approved else "rejected"), response
