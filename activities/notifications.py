"""Notification activities (approval request, timeout, approval, rejection, compensation notices).

Each writes one message per idempotency key through the configured notifier (outbox by default).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.adapters import notifier
from activities.validation import parse_input
from domain.results import NotificationRequest

bp = df.Blueprint()


def _notify(kind: str, payload: Any) -> dict:
    request = parse_input(NotificationRequest, payload)
    body = payload if isinstance(payload, dict) else request.to_json_dict()
    return notifier().send(request.idempotency_key, kind, body).to_json_dict()


@bp.activity_trigger(input_name="payload")
def SendApprovalRequest(payload: Any) -> dict:
    """Ask a human approver to decide on an order."""
    return _notify("approval_request", payload)


@bp.activity_trigger(input_name="payload")
def NotifyTimeout(payload: Any) -> dict:
    """Tell the requester that nobody decided in time (the request is auto-rejected)."""
    return _notify("approval_timeout", payload)


@bp.activity_trigger(input_name="payload")
def ProcessApproval(payload: Any) -> dict:
    """Record and announce an approval."""
    return _notify("approved", payload)


@bp.activity_trigger(input_name="payload")
def ProcessRejection(payload: Any) -> dict:
    """Record and announce a rejection."""
    return _notify("rejected", payload)


@bp.activity_trigger(input_name="payload")
def CompensateFailure(payload: Any) -> dict:
    """Record a failed step so an operator (or a follow-up job) can undo or retry it."""
    return _notify("compensation", payload)
