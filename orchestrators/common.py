"""Deterministic helpers shared by orchestrators (generators used with ``yield from``)."""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from domain.errors import field_errors
from domain.models import ApprovalResponse

APPROVAL_EVENT = "ApprovalResponse"
CANCEL_EVENT = "CancelOrder"
INVENTORY_ENTITY = "InventoryEntity"
DEFAULT_APPROVAL_TIMEOUT_HOURS = 72

Line = tuple[str, int]
# One entity call: the SKU and the operation input (an amount, or an owned claim dict).
EntityCall = tuple[str, Any]


def set_step(context: df.DurableOrchestrationContext, step: str, **extra: Any) -> None:
    """Publish progress as custom status ``{"step": ..., ...}``."""
    context.set_custom_status({"step": step, **extra})


def step_key(context: df.DurableOrchestrationContext, step: str) -> str:
    """Idempotency key of a side effect: instance id + step."""
    return f"{context.instance_id}:{step}"


def invalid_input(exc: ValidationError, limit: int = 500) -> str:
    """``"invalid_input: items.0.quantity: Input should be ...; ..."``: the fields, as the routes name them."""
    return ("invalid_input: " + "; ".join(f"{e['field']}: {e['message']}" for e in field_errors(exc)))[:limit]


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
    context: df.DurableOrchestrationContext, operation: str, calls: Sequence[EntityCall]
) -> Generator[Any, Any, list]:
    """Call ``operation(input)`` on every call's InventoryEntity in parallel; settled outcomes."""
    tasks = [context.call_entity(inventory(sku), operation, payload) for sku, payload in calls]
    outcomes = yield from settle(context, tasks)
    return outcomes


def claim(holder: str, run: str | None, line: str | None = None, quantity: int | None = None) -> dict[str, Any]:
    """An owned-operation input for InventoryEntity (see ``domain.inventory.Claim``)."""
    payload: dict[str, Any] = {"order": holder, "run": run}
    if line is not None:
        payload["line"] = line
    if quantity is not None:
        payload["quantity"] = quantity
    return payload


def release_holdings(
    context: df.DurableOrchestrationContext, holder: str, run: str | None, skus: Sequence[str]
) -> Generator[Any, Any, list[str]]:
    """Release everything ``holder`` holds on each SKU (idempotent); returns SKUs that failed."""
    skus = list(dict.fromkeys(skus))
    outcomes = yield from entity_fan_out(context, "release", [(sku, claim(holder, run)) for sku in skus])
    return [sku for sku, (ok, _) in zip(skus, outcomes, strict=True) if not ok]


class CancelRequest:
    """An order's ``CancelOrder`` event wait, listed in at most one race.

    The extension gives each listing of an event wait (in a ``task_any``) its own waiter and hands
    an event to the oldest one, so a second listing would leave its race blind to the event. The
    SDK, on the other hand, only notices the event once the wait was listed. So: list it in the
    first race of the run (:meth:`racers`), and check :attr:`requested` at every step boundary.
    """

    def __init__(self, context: df.DurableOrchestrationContext) -> None:
        self.task = context.wait_for_external_event(CANCEL_EVENT)
        self._listed = False

    def racers(self) -> list[Any]:
        """``[wait]`` the first time (to add to a ``task_any``), ``[]`` afterwards."""
        if self._listed:
            return []
        self._listed = True
        return [self.task]

    @property
    def requested(self) -> bool:
        """A cancellation arrived (as far as this replay has seen)."""
        return self.task.is_completed


def finish_or_cancel(
    context: df.DurableOrchestrationContext, work: Any, cancel: CancelRequest
) -> Generator[Any, Any, Any]:
    """Wait for ``work`` (listing ``cancel`` if it never was) and return its result.

    The work always runs to its end: a cancellation is acted on by the caller afterwards.
    """
    racers = cancel.racers()
    if racers:
        yield context.task_any([work, *racers])
    return (yield work)


def parse_approval(raw: Any) -> ApprovalResponse | None:
    """Accept the event payload as a dict (HTTP API) or JSON text (Python client double-encodes)."""
    return check_approval(raw)[0]


def check_approval(raw: Any) -> tuple[ApprovalResponse | None, list[dict[str, str]]]:
    """The approval, or None and the field errors that make the payload invalid."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None, [{"field": "body", "message": "not valid JSON"}]
    try:
        return ApprovalResponse.model_validate(raw), []
    except ValidationError as exc:
        return None, field_errors(exc)


def wait_for_approval(
    context: df.DurableOrchestrationContext,
    timeout_hours: float,
    cancel: CancelRequest | None = None,
    status: dict[str, Any] | None = None,
) -> Generator[Any, Any, tuple[str, ApprovalResponse | None]]:
    """Race the ``ApprovalResponse`` event against a durable timer (and ``cancel``, if given).

    Returns ``("approved" | "rejected", response)``, ``("timeout", None)`` or ``("cancelled",
    None)``. An invalid payload does not end the wait (same deadline): it is recorded in the custom
    status as ``invalidApproval`` (with ``status`` as the rest of the step) so an operator sees why
    the order still waits. The timer is cancelled when the wait ends otherwise. ``cancel`` can be
    listed once only (see :class:`CancelRequest`): after an invalid approval, a cancellation is
    seen at the next approval event or at the deadline.
    """
    deadline = context.current_utc_datetime + timedelta(hours=timeout_hours)
    timer = context.create_timer(deadline)
    invalid = 0
    while True:
        event = context.wait_for_external_event(APPROVAL_EVENT)
        winner = yield context.task_any([event, timer, *(cancel.racers() if cancel else [])])
        if cancel is not None and cancel.requested:
            timer.cancel()
            return "cancelled", None
        if winner == timer:
            return "timeout", None
        response, errors = check_approval(event.result)
        if response is not None:
            timer.cancel()
            return ("approved" if response.approved else "rejected"), response
        invalid += 1
        set_step(context, "awaiting_approval", **(status or {}), invalidApproval={"count": invalid, "fields": errors})
