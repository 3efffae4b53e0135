"""Payment activities: ChargePayment and RefundPayment through the configured gateway."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.adapters import payment_gateway
from activities.validation import parse_input
from domain.results import ChargeRequest, RefundRequest

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def ChargePayment(payload: Any) -> dict:
    """Charge a card once per idempotency key. Declines are results; gateway errors raise."""
    return payment_gateway().charge(parse_input(ChargeRequest, payload)).to_json_dict()


@bp.activity_trigger(input_name="payload")
def RefundPayment(payload: Any) -> dict:
    """Refund the charge made under ``chargeKey`` (no-op result if nothing was captured)."""
    return payment_gateway().refund(parse_input(RefundRequest, payload)).to_json_dict()
