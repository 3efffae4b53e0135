"""Shipping activity: CreateShipment through the configured carrier."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.adapters import carrier
from activities.validation import parse_input
from domain.results import ShipmentRequest

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def CreateShipment(payload: Any) -> dict:
    """Book a shipment once per idempotency key and return its tracking number."""
    return carrier().create_shipment(parse_input(ShipmentRequest, payload)).to_json_dict()
