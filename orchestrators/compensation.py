"""Compensating actions shared by the order workflows (all idempotent, safe to re-run)."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import azure.durable_functions as df

from orchestrators.common import Line, entity_fan_out, error_summary, release_holdings, step_key
from orchestrators.retry import gateway_retry_options


def refund_charge(
    context: df.DurableOrchestrationContext, charge_key: str, reason: str
) -> Generator[Any, Any, dict[str, Any]]:
    """Refund whatever was captured under ``charge_key`` (a no-op result if nothing was)."""
    try:
        result = yield context.call_activity_with_retry(
            "RefundPayment",
            gateway_retry_options(),
            {"idempotencyKey": step_key(context, "refund"), "chargeKey": charge_key, "reason": reason},
        )
    except Exception as exc:
        yield from record_failure(context, "refund", exc, {"chargeKey": charge_key})
        return {"status": "refund_failed"}
    return result


def undo_inventory(
    context: df.DurableOrchestrationContext,
    holder: str,
    run: str | None,
    skus: Sequence[str],
    committed: Sequence[Line],
) -> Generator[Any, Any, list[str]]:
    """Release what ``holder`` holds on ``skus`` and restock committed-but-unshipped lines.

    Returns the SKUs whose compensation failed (and leaves an operator record for them).
    """
    failed = yield from release_holdings(context, holder, run, skus)
    outcomes = yield from entity_fan_out(context, "add", list(committed))
    failed += [sku for (sku, _), (ok, _) in zip(committed, outcomes, strict=True) if not ok]
    if failed:
        yield from record_failure(
            context, "inventory", RuntimeError("inventory compensation failed"), {"skus": failed}
        )
    return failed


def record_failure(
    context: df.DurableOrchestrationContext, step: str, exc: BaseException, details: dict[str, Any]
) -> Generator[Any, Any, None]:
    """Leave an operator-visible record (CompensateFailure); never raises."""
    try:
        yield context.call_activity(
            "CompensateFailure",
            {
                "idempotencyKey": step_key(context, f"compensate-{step}"),
                "error": error_summary(exc),
                "step": step,
                "details": details,
            },
        )
    except Exception:  # the record is best effort; the workflow result already says failed
        return None
    return None
