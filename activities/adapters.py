"""Adapters to external systems, chosen by app settings, with local sandbox implementations.

``PAYMENT_ADAPTER=sandbox`` (default): a card gateway that understands test card numbers:

* ``4242424242424242`` — approved
* ``4000000000000002`` — declined (card_declined)
* ``4000000000009995`` — transient gateway error on the first 2 attempts per charge key, then approved
* ``4000000000000119`` — processing error on every attempt (non-retryable in practice)
* any other number — approved

``CARRIER_ADAPTER=sandbox``: tracking numbers derived from the idempotency key.
``NOTIFICATION_ADAPTER=outbox`` (default) writes to the outbox table; ``log`` also logs each message.
Every side effect is keyed by the caller's idempotency key, so a re-run returns the first result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Protocol

from activities.sandbox_store import SandboxStore
from domain.results import (
    ChargeRequest,
    NotificationResult,
    PaymentResult,
    RefundRequest,
    RefundResult,
    ShipmentRequest,
    ShipmentResult,
)

logger = logging.getLogger(__name__)

CARD_SUCCESS = "4242424242424242"
CARD_DECLINE = "4000000000000002"
CARD_TRANSIENT = "4000000000009995"
CARD_PROCESSING_ERROR = "4000000000000119"
TRANSIENT_FAILURES = 2


class AdapterConfigurationError(RuntimeError):
    """An app setting names an adapter that does not exist."""


class TransientGatewayError(RuntimeError):
    """The gateway failed in a way that may succeed when retried."""


class PaymentProcessingError(RuntimeError):
    """The gateway could not process the card."""


def _digest(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length].upper()


class PaymentGateway(Protocol):
    """Charges and refunds cards."""

    def charge(self, request: ChargeRequest) -> PaymentResult: ...

    def refund(self, request: RefundRequest) -> RefundResult: ...


class Carrier(Protocol):
    """Books shipments."""

    def create_shipment(self, request: ShipmentRequest) -> ShipmentResult: ...


class Notifier(Protocol):
    """Sends notifications."""

    def send(self, key: str, kind: str, payload: Any) -> NotificationResult: ...


class SandboxPaymentGateway:
    """A local card gateway persisting charges and refunds in the sandbox store."""

    def __init__(self, store: SandboxStore | None = None) -> None:
        self.store = store or SandboxStore()

    def charge(self, request: ChargeRequest) -> PaymentResult:
        key = request.idempotency_key
        if request.card_number == CARD_TRANSIENT:
            # Count attempts outside the charge transaction: a failed attempt leaves no charge.
            attempt = self.store.bump_attempt(f"charge:{key}")
            if attempt <= TRANSIENT_FAILURES:
                raise TransientGatewayError(f"gateway temporarily unavailable (attempt {attempt})")
        if request.card_number == CARD_PROCESSING_ERROR:
            raise PaymentProcessingError("card processing error")
        with self.store.transaction() as conn:
            row = conn.execute("SELECT * FROM payments WHERE charge_key = ?", (key,)).fetchone()
            if row is not None:
                return _payment_from_row(dict(row))
            declined = request.card_number == CARD_DECLINE
            payment_id = None if declined else f"pay_{_digest(key, length=16)}"
            status = "declined" if declined else "success"
            reason = "card_declined" if declined else None
            conn.execute(
                "INSERT INTO payments(charge_key, payment_id, status, amount_cents, currency, order_id,"
                " reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, payment_id, status, request.amount_cents, request.currency, request.order_id, reason),
            )
        return PaymentResult(
            status=status,
            payment_id=payment_id,
            amount_cents=request.amount_cents,
            currency=request.currency,
            reason=reason,
        )

    def refund(self, request: RefundRequest) -> RefundResult:
        with self.store.transaction() as conn:
            done = conn.execute(
                "SELECT * FROM refunds WHERE refund_key = ?", (request.idempotency_key,)
            ).fetchone()
            if done is not None:
                return RefundResult(
                    status="refunded",
                    refund_id=done["refund_id"],
                    payment_id=done["payment_id"],
                    amount_cents=done["amount_cents"],
                )
            row = conn.execute(
                "SELECT * FROM payments WHERE charge_key = ? AND status = 'success' AND refunded = 0",
                (request.charge_key,),
            ).fetchone()
            if row is None:
                return RefundResult(status="nothing_to_refund")
            refund_id = f"re_{_digest(request.idempotency_key, length=16)}"
            conn.execute(
                "INSERT INTO refunds(refund_key, refund_id, payment_id, amount_cents) VALUES (?, ?, ?, ?)",
                (request.idempotency_key, refund_id, row["payment_id"], row["amount_cents"]),
            )
            conn.execute("UPDATE payments SET refunded = 1 WHERE charge_key = ?", (request.charge_key,))
        return RefundResult(
            status="refunded",
            refund_id=refund_id,
            payment_id=row["payment_id"],
            amount_cents=row["amount_cents"],
        )


def _payment_from_row(row: dict[str, Any]) -> PaymentResult:
    return PaymentResult(
        status=row["status"],
        payment_id=row["payment_id"],
        amount_cents=row["amount_cents"],
        currency=row["currency"],
        reason=row["reason"],
    )


class SandboxCarrier:
    """A local carrier: deterministic tracking numbers, shipments persisted once per key."""

    name = "sandbox-carrier"

    def __init__(self, store: SandboxStore | None = None) -> None:
        self.store = store or SandboxStore()

    def create_shipment(self, request: ShipmentRequest) -> ShipmentResult:
        key = request.idempotency_key
        with self.store.transaction() as conn:
            row = conn.execute("SELECT * FROM shipments WHERE shipment_key = ?", (key,)).fetchone()
            if row is not None:
                return ShipmentResult(
                    shipment_id=row["shipment_id"],
                    tracking_number=row["tracking_number"],
                    carrier=row["carrier"],
                )
            result = ShipmentResult(
                shipment_id=f"shp_{_digest(key, length=16)}",
                tracking_number=f"SBX{_digest('tracking', key)}",
                carrier=self.name,
            )
            conn.execute(
                "INSERT INTO shipments(shipment_key, shipment_id, tracking_number, carrier, order_id,"
                " payload) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    result.shipment_id,
                    result.tracking_number,
                    result.carrier,
                    request.order_id,
                    json.dumps(request.to_json_dict(), sort_keys=True),
                ),
            )
        return result


class OutboxNotifier:
    """Writes each notification once (per key) to the outbox table; optionally logs it."""

    def __init__(self, store: SandboxStore | None = None, log: bool = False) -> None:
        self.store = store or SandboxStore()
        self.log = log

    def send(self, key: str, kind: str, payload: Any) -> NotificationResult:
        notification_id = f"ntf_{_digest(key, length=16)}"
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO outbox(notification_key, notification_id, kind, payload)"
                " VALUES (?, ?, ?, ?)",
                (key, notification_id, kind, json.dumps(payload, sort_keys=True, default=str)),
            )
        if self.log:
            logger.info("notification %s %s: %s", notification_id, kind, payload)
        return NotificationResult(notification_id=notification_id, kind=kind, channel="outbox")


def _setting(name: str, default: str) -> str:
    return (os.environ.get(name) or default).strip().lower()


def payment_gateway() -> PaymentGateway:
    """The gateway named by ``PAYMENT_ADAPTER``."""
    choice = _setting("PAYMENT_ADAPTER", "sandbox")
    if choice == "sandbox":
        return SandboxPaymentGateway()
    raise AdapterConfigurationError(f"PAYMENT_ADAPTER={choice!r} is not supported (use 'sandbox')")


def carrier() -> Carrier:
    """The carrier named by ``CARRIER_ADAPTER``."""
    choice = _setting("CARRIER_ADAPTER", "sandbox")
    if choice == "sandbox":
        return SandboxCarrier()
    raise AdapterConfigurationError(f"CARRIER_ADAPTER={choice!r} is not supported (use 'sandbox')")


def notifier() -> Notifier:
    """The notifier named by ``NOTIFICATION_ADAPTER``."""
    choice = _setting("NOTIFICATION_ADAPTER", "outbox")
    if choice in ("outbox", "log"):
        return OutboxNotifier(log=choice == "log")
    raise AdapterConfigurationError(
        f"NOTIFICATION_ADAPTER={choice!r} is not supported (use 'outbox' or 'log')"
    )
